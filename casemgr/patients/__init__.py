"""Patients: the person, their identifiers and contacts, and who may open their chart."""
