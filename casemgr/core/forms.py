"""The one way pages handle a form: load with a schema, call a service, commit once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from casemgr.core.errors import CasemgrError, PermissionDenied
from casemgr.core.schema import form_errors
from casemgr.extensions import db


def blank_to_none(form: Mapping[str, Any]) -> dict[str, Any]:
    """Treat empty optional form fields as not given."""
    return {k: (v if v != "" else None) for k, v in form.items()}


def run_form(
    schema: Schema, raw: Mapping[str, Any], action: Callable[[dict[str, Any]], Any]
) -> tuple[Any, dict[str, list[str]], int]:
    """Validate, act and commit; return (result, errors, status) for the page to render.

    Field problems come back as a message per field (422), state clashes as a message (409);
    a refusal of the role or care team is raised as it is (403), never shown as a form error.
    """
    try:
        data = schema.load(raw)
        result = action(data)
        db.session.commit()
    except ValidationError as err:
        db.session.rollback()
        return None, form_errors(err), 422
    except PermissionDenied:
        db.session.rollback()
        raise
    except CasemgrError as err:
        db.session.rollback()
        errors = dict(err.fields) if err.fields else {}
        if not errors or err.status == 409:
            errors.setdefault("_form", []).append(err.message)
        return None, errors, err.status
    return result, {}, 200
