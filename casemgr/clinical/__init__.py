"""Clinical reference data and pure rules (shared/reference/CLINICAL.md); no Flask, no database."""
