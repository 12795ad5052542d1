"""The one way a page handles a submitted form: validate, call the service, commit once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError

from casemgr.core.errors import CasemgrError
from casemgr.core.schema import form_errors
from casemgr.extensions import db

T = TypeVar("T")


def submit(
    schema: Schema, raw: Mapping[str, Any], action: Callable[[dict[str, Any]], T]
) -> tuple[T | None, dict[str, list[str]]]:
    """Load ``raw`` with ``schema``, run ``action`` on the result and commit.

    Returns ``(result, {})`` on success, or ``(None, errors)`` after a rollback, with one
    message list per field (``_form`` for errors that belong to no field), so the page can
    re-render with everything the user typed.
    """
    try:
        data = schema.load(raw)
        result = action(data)
        db.session.commit()
    except ValidationError as err:
        db.session.rollback()
        return None, form_errors(err)
    except CasemgrError as err:
        db.session.rollback()
        return None, err.fields or {"_form": [err.message]}
    return result, {}
