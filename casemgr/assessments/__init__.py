"""Assessments: DSM-5 diagnostic assessments and withdrawal scores with their alerts."""
