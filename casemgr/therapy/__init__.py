"""Therapy sessions (individual, family, group) and their notes."""
