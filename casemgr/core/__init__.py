"""Shared foundations: the model base, errors, permissions and time helpers."""
