"""Medical record numbers: random digits with a Luhn check digit, unique by constraint."""

from __future__ import annotations

import random
import secrets


def luhn_digit(digits: str) -> str:
    """Return the Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid(mrn: str) -> bool:
    """Tell whether an MRN is well formed and its check digit matches."""
    return len(mrn) == 8 and mrn.isdigit() and luhn_digit(mrn[:-1]) == mrn[-1]


def new_mrn_from(rng: random.Random) -> str:
    """Draw an MRN from a seeded generator (synthetic data must be reproducible)."""
    body = str(rng.randrange(1_000_000, 10_000_000))
    return body + luhn_digit(body)


def new_mrn() -> str:
    """Draw a fresh MRN (7 random digits, no leading zero, plus the check digit)."""
    body = str(secrets.randbelow(9_000_000) + 1_000_000)
    return body + luhn_digit(body)
