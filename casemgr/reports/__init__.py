"""Reports for administrators and supervisors: SQL aggregates, pages with charts, CSV."""
