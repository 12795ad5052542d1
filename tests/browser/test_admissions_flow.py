"""Intake staff take a call, screen, waitlist and admit a person with a real browser."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from casemgr.core.timeutil import today
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.intake.models import Inquiry
from tests.factories import PASSWORD, make_patient, make_staff


def test_call_to_admission_in_the_browser(page: Page, live_db, shot) -> None:
    live_db(make_staff, "intake", username="ivy", full_name="Ivy Intake")
    live_db(make_staff, "counselor", username="cora", full_name="Cora Counselor")
    dob = today().replace(year=1985, month=6, day=15)
    # Someone with the same name and birth date was treated here before.
    earlier = live_db(make_patient, first_name="Morgan", last_name="Vale", date_of_birth=dob)
    page.goto("/login")
    page.get_by_label("Username").fill("ivy")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/intake$"))
    expect(page.get_by_role("heading", name="Admissions pipeline")).to_be_visible()

    # The call: typed straight through with the keyboard; a mistyped phone first.
    page.get_by_role("link", name="New inquiry").click()
    page.get_by_label("First name").fill("Morgan")
    page.keyboard.press("Tab")
    page.keyboard.type("Vale")
    page.keyboard.press("Tab")
    page.keyboard.type("call after 5")
    page.get_by_label("Date of birth").fill(dob.isoformat())
    page.get_by_label("Referred by").select_option(label="Alcohol/drug use care provider")
    page.get_by_label("Main substance").select_option(label="Benzodiazepines")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_role("button", name="Save inquiry").click()
    expect(page.get_by_text("Give a phone number with 7 to 20 digits")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Morgan")
    expect(page.get_by_label("Main substance")).to_have_value("13")
    shot(page, "inquiry-form-error")
    page.get_by_label("Phone").fill("(555) 010-3344 x2")
    page.get_by_role("button", name="Save inquiry").click()
    expect(page.get_by_role("heading", name="Vale, Morgan")).to_be_visible()
    expect(page.locator("#inquiry-status")).to_have_text("New inquiry")

    # Screening.
    page.get_by_role("button", name="Screening").click()
    expect(page.locator("#inquiry-status")).to_have_text("Screening")
    page.get_by_role("link", name="Record screening").click()
    page.get_by_label("Use in the past month").select_option("3")
    page.get_by_label("Has had withdrawal symptoms").check()
    page.get_by_label("Seizures in withdrawal").check()
    page.get_by_label("Legal status").select_option("none")
    page.get_by_role("button", name="Save screening").click()
    expect(page.locator("#detox-suggestion")).to_contain_text("Needs medically supervised detox")
    expect(page.locator("#detox-suggestion")).to_contain_text(
        "Seizures" if False else "withdrawal seizures"
    )
    shot(page, "inquiry-screened")

    # Waitlist.
    page.get_by_role("button", name="Waitlist").click()
    expect(page.locator("#inquiry-status")).to_have_text("Waitlist")
    page.get_by_role("link", name="Admissions").click()
    page.get_by_role("link", name="Waitlist").click()
    expect(page.locator("#waitlist")).to_contain_text("Vale, Morgan")
    shot(page, "waitlist")

    # Admission: the earlier patient is offered, never merged silently.
    page.locator("#waitlist").get_by_role("link", name="Admit").click()
    expect(page.locator("#candidates")).to_contain_text("Vale, Morgan")
    expect(page.get_by_label("Primary substance")).to_have_value("13")
    page.get_by_label("Primary counselor").select_option(label="Cora Counselor")
    page.get_by_label("Service setting").select_option("2")
    page.get_by_role("button", name="Admit").click()
    expect(page.get_by_text("Choose the existing patient or confirm a new one.")).to_be_visible()
    expect(page.get_by_label("Service setting")).to_have_value("2")
    shot(page, "admit-candidates")
    page.get_by_label(re.compile(r"^Yes: Vale, Morgan")).check()
    page.get_by_role("button", name="Admit").click()
    expect(page.get_by_role("heading", name="Vale, Morgan")).to_be_visible()
    expect(page.get_by_text("Admitted after 0 days waiting")).to_be_visible()
    expect(page.locator("#coverage-panel")).to_contain_text("No coverage recorded")
    shot(page, "admitted-chart")

    inquiry = db.session.scalars(sa.select(Inquiry)).one()
    episode = db.session.get(Episode, inquiry.episode_id)
    assert inquiry.status == "admitted"
    assert episode.patient_id == earlier.id
    assert (episode.days_waiting, episode.primary_substance, episode.referral_source) == (0, 13, 2)
    assert episode.frequency == 3
    assert episode.admitted_on == today()
    assert episode.admitted_on - timedelta(days=episode.days_waiting) == inquiry.first_contact_on
