"""Admin pages: create staff, set roles, deactivate (never delete)."""

from __future__ import annotations

from casemgr.staff.services import find_by_username
from tests.conftest import post_form
from tests.factories import make_staff
from tests.pages_helpers import sign_in


def test_admin_creates_an_account_with_roles(client) -> None:
    sign_in(client, make_staff("admin"))
    response = post_form(
        client,
        "/admin/staff/new",
        {
            "username": "new.nurse",
            "full_name": "New Nurse",
            "password": "a-long-enough-password",
            "roles": ["nurse", "physician"],
        },
    )
    assert response.status_code == 302
    staff = find_by_username("new.nurse")
    assert staff.role_names == {"nurse", "physician"}


def test_duplicate_username_is_a_field_message_and_input_is_kept(client) -> None:
    make_staff("counselor", username="taken")
    sign_in(client, make_staff("admin"))
    response = post_form(
        client,
        "/admin/staff/new",
        {
            "username": "TAKEN",
            "full_name": "Someone Else",
            "password": "a-long-enough-password",
            "roles": ["counselor"],
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Already taken" in body
    assert 'value="Someone Else"' in body
    assert 'value="counselor" id="role-counselor" checked' in body


def test_missing_roles_and_weak_password_are_explained(client) -> None:
    sign_in(client, make_staff("admin"))
    response = post_form(
        client,
        "/admin/staff/new",
        {
            "username": "someone",
            "full_name": "Some One",
            "password": "short",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Missing data" in body or "at least one role" in body


def test_admin_changes_roles_and_deactivates(client) -> None:
    target = make_staff("counselor", username="target")
    sign_in(client, make_staff("admin"))
    url = f"/admin/staff/{target.id}"
    response = post_form(client, url, {"full_name": "Target Person", "roles": ["supervisor"]})
    assert response.status_code == 302
    assert target.role_names == {"supervisor"}
    assert target.active is False  # the "active" box was not ticked


def test_admin_cannot_deactivate_self(client) -> None:
    admin = make_staff("admin")
    sign_in(client, admin)
    response = post_form(
        client, f"/admin/staff/{admin.id}", {"full_name": "Me", "roles": ["admin"]}
    )
    assert response.status_code == 422
    assert "cannot deactivate your own account" in response.get_data(as_text=True)
    assert admin.active is True
