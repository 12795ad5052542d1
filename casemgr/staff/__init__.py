"""Staff accounts, roles, login, lockout and API tokens."""
