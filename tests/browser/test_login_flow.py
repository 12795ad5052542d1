"""A person signs in with a real browser and lands on their role's start page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, admit, make_patient, make_staff


def test_counselor_signs_in_and_sees_caseload(page: Page, live_db, shot) -> None:
    counselor = live_db(make_staff, "counselor", username="cora", full_name="Cora Counselor")
    patient = live_db(make_patient, first_name="Avery", last_name="Anderson")
    live_db(admit, patient, counselor, days_ago=9)
    page.goto("/login")
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/caseload$"))
    expect(page.get_by_role("heading", name="My caseload")).to_be_visible()
    expect(page.get_by_text("Day 10 of 90")).to_be_visible()
    shot(page, "caseload")
    page.get_by_role("link", name="Anderson, Avery").click()
    expect(page.get_by_role("heading", name="Anderson, Avery")).to_be_visible()
    shot(page, "chart")


def test_wrong_password_keeps_username_and_says_why(page: Page, live_db) -> None:
    live_db(make_staff, "intake", username="ivy")
    page.goto("/login")
    page.get_by_label("Username").fill("ivy")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong username or password")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value("ivy")
