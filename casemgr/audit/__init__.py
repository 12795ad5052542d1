"""The audit trail: who read or changed what, when, from where; never clinical content."""
