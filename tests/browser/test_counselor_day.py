"""The counselor's day in a real browser: caseload, a session with a signed DAP note, an
addendum, a group of three, and the at-risk flag appearing after two no-shows."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from playwright.sync_api import Page, expect

from casemgr.core.db import utcnow
from casemgr.core.timeutil import local
from tests.factories import PASSWORD, admit, make_patient, make_staff
from tests.therapy.builders import session


def _hours_ago_local(hours: float) -> str:
    """A datetime-local value some hours back, in program time."""
    return local(utcnow() - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def _world(live_db) -> dict:
    counselor = live_db(make_staff, "counselor", username="cora", full_name="Cora Counselor")
    people = {}
    for first, last, days in [
        ("Avery", "Anderson", 20),
        ("Blake", "Brown", 12),
        ("Casey", "Clark", 40),
        ("Drew", "Dalton", 30),
    ]:
        patient = live_db(make_patient, first_name=first, last_name=last)
        episode = live_db(admit, patient, counselor, days_ago=days)
        live_db(session, episode, counselor, hours_ago=40)  # seen two days ago: not at risk
        people[first] = (patient, episode)
    return {"counselor": counselor, "people": people}


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/caseload$"))


def test_counselor_logs_a_signed_session_and_an_addendum(page: Page, live_db, shot) -> None:
    world = _world(live_db)
    page.set_viewport_size({"width": 1366, "height": 900})
    _sign_in(page)
    expect(page.get_by_role("heading", name="My caseload")).to_be_visible()
    expect(page.locator("#caseload tbody tr")).to_have_count(4)
    shot(page, "counselor-dashboard")

    page.get_by_role("link", name="Anderson, Avery").click()
    expect(page.get_by_role("heading", name="Anderson, Avery")).to_be_visible()
    expect(page.get_by_text("Day 21 of 90")).to_be_visible()
    shot(page, "counselor-chart")

    page.get_by_role("link", name="Log session").click()
    expect(page.get_by_role("heading", name="Log a session")).to_be_visible()
    # Keyboard only: the note's first field has focus; Tab moves through the note.
    expect(page.locator("#DAP-data")).to_be_focused()
    page.keyboard.type("Reported three days without use; discussed triggers at work.")
    page.keyboard.press("Tab")
    page.keyboard.type("Engaged, motivated; cravings lower than last week.")
    page.keyboard.press("Tab")
    page.keyboard.type("Practise urge surfing; next session in one week.")
    page.locator("#modality").select_option("cbt")
    shot(page, "counselor-session-form")
    started = time.perf_counter()
    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_text("Session saved; note signed.")).to_be_visible()
    elapsed = time.perf_counter() - started
    print(f"\nsession form submit to chart shown: {elapsed * 1000:.0f} ms")
    assert elapsed < 5

    page.locator("#timeline").get_by_role("link", name="DAP note").first.click()
    expect(page.locator("#note-status")).to_contain_text("Signed")
    expect(page.get_by_text("Reported three days without use")).to_be_visible()
    expect(page.get_by_role("link", name="Edit draft")).to_have_count(0)
    note_url = page.url
    page.goto(note_url + "/edit")  # typing the edit address does not open a signed note
    expect(page).to_have_url(note_url)
    expect(page.get_by_text("A signed note cannot be edited")).to_be_visible()

    page.get_by_label("Add an addendum").fill("Addendum: session lasted 45 minutes, not 50.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.get_by_text("Addendum added.")).to_be_visible()
    expect(page.locator(".addendum")).to_contain_text("session lasted 45 minutes")
    expect(page.get_by_text("Reported three days without use")).to_be_visible()  # unchanged
    assert world["counselor"].id


def test_counselor_logs_a_group_of_three(page: Page, live_db, shot) -> None:
    _world(live_db)
    _sign_in(page)
    page.get_by_role("link", name="Log group session").click()
    expect(page.get_by_role("heading", name="Log a group session")).to_be_visible()
    page.get_by_label("Topic").fill("Relapse prevention: high-risk situations")
    page.locator("#modality").select_option("cbt")
    search = page.get_by_label("Filter attendees")
    for name in ("Anderson", "Brown", "Clark"):
        search.fill(name)
        search.press("Enter")  # ticks the only match
    expect(page.locator("#chosen-count")).to_have_text("3")
    page.locator("#shared-data").fill("Group mapped personal high-risk situations.")
    page.locator("#shared-assessment").fill("Group engaged; peer feedback constructive.")
    page.locator("#shared-plan").fill("Continue weekly; bring a coping card.")
    page.get_by_role("button", name="Copy summary into each chosen note").click()
    brown = page.locator("li.attendee", has_text="Brown, Blake")
    brown.get_by_label(re.compile("^Assessment")).fill("Quieter than usual; check in 1:1.")
    brown.get_by_label(re.compile("^Attendance")).select_option("late")
    page.set_viewport_size({"width": 1366, "height": 900})
    shot(page, "counselor-group-form")
    page.get_by_role("button", name="Save with draft notes").click()
    expect(page.get_by_text("Group session saved for 3 patients.")).to_be_visible()
    expect(page.locator("#tile-unsigned")).to_contain_text("3")

    page.get_by_role("link", name="Brown, Blake").click()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Relapse prevention: high-risk situations")
    expect(timeline).to_contain_text("Late")
    timeline.get_by_role("link", name="DAP note").first.click()
    expect(page.get_by_text("Quieter than usual; check in 1:1.")).to_be_visible()
    expect(page.get_by_text("Group mapped personal high-risk situations.")).to_be_visible()


def test_at_risk_flag_appears_after_two_no_shows(page: Page, live_db, shot) -> None:
    world = _world(live_db)
    _sign_in(page)
    drew = page.locator("#caseload tr", has_text="Dalton, Drew")
    expect(drew.get_by_text("at risk")).to_have_count(0)
    episode_id = world["people"]["Drew"][1].id
    for hours in (30, 6):
        page.goto(f"/episodes/{episode_id}/sessions/new")
        page.locator("#modality").select_option("motivational_interviewing")
        page.get_by_label("Attendance").select_option("no_show")
        page.get_by_label("Start").fill(_hours_ago_local(hours))
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_text("Session saved without a note.")).to_be_visible()
    expect(page.locator("#at-risk-flag")).to_be_visible()
    page.goto("/caseload")
    expect(drew.get_by_text("at risk")).to_be_visible()
    expect(page.locator("#caseload tbody tr").first).to_contain_text("Dalton, Drew")  # most need
    shot(page, "counselor-dashboard-at-risk")
    page.set_viewport_size({"width": 820, "height": 1180})
    shot(page, "counselor-dashboard-tablet")
