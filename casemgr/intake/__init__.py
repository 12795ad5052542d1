"""Admissions: inquiries, screening, the waitlist and places, insurance coverage."""
