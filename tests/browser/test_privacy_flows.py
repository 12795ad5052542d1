"""Break the glass, the audit trail and two-step enrolment, in a real browser."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, admit, make_patient, make_staff


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_counselor_breaks_the_glass_and_a_supervisor_reviews(page: Page, live_db, shot) -> None:
    owner = live_db(make_staff, "counselor", username="olga", full_name="Olga Owner")
    live_db(make_staff, "counselor", username="otto", full_name="Otto Outsider")
    live_db(make_staff, "supervisor", username="sam", full_name="Sam Supervisor")
    patient = live_db(make_patient, first_name="Blair", last_name="Brooks")
    live_db(admit, patient, owner, days_ago=4)
    _sign_in(page, "otto")
    page.goto(f"/patients/{patient.id}")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shot(page, "emergency-refused")
    page.get_by_role("link", name="Request emergency access").click()
    page.get_by_label("Reason").fill("Covering the crisis line tonight; patient asked for help")
    page.get_by_role("button", name=re.compile("Open the chart")).click()
    expect(page.get_by_role("heading", name="Brooks, Blair")).to_be_visible()
    expect(page.get_by_text("Emergency access granted for 4 hours")).to_be_visible()
    shot(page, "emergency-granted")
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, "sam")
    page.get_by_role("link", name="Emergency access").click()
    expect(page.get_by_text("Covering the crisis line tonight")).to_be_visible()
    shot(page, "emergency-review")
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_text("Marked reviewed.")).to_be_visible()


def test_admin_reads_the_audit_trail_and_verifies_it(page: Page, live_db, shot) -> None:
    live_db(make_staff, "admin", username="ada", full_name="Ada Admin")
    _sign_in(page, "ada")
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("cell", name="auth.login", exact=True)).to_be_visible()
    shot(page, "audit-report")
    page.get_by_role("link", name="Verify the chain").click()
    expect(page.get_by_text("The chain is intact")).to_be_visible()


def test_any_user_enrols_two_step_sign_in_with_a_qr_code(page: Page, live_db, shot) -> None:
    live_db(make_staff, "nurse", username="nia", full_name="Nia Nurse")
    _sign_in(page, "nia")
    page.get_by_role("link", name="Two-step sign-in").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    page.wait_for_function(  # the SVG really loaded (same origin, allowed by the CSP)
        "() => document.querySelector('img.mfa-qr').complete"
        " && document.querySelector('img.mfa-qr').naturalWidth > 0"
    )
    secret = page.locator("code.user-select-all").inner_text()
    shot(page, "mfa-enrol")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
