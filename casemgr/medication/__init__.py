"""Medication: benzodiazepine taper plans, their schedules and the doses given."""
