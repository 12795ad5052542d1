"""One patient walked from admission to therapy through the pages, each refusal explained."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from casemgr.core.timeutil import today
from tests.factories import PASSWORD, admit, make_module, make_patient, make_staff


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _move(page: Page, chart: str) -> None:
    page.goto(chart)
    page.get_by_role("button", name="Move stage").click()


def _refused_then_follow(page: Page, code: str, words: str) -> None:
    missing = page.locator("#missing")
    expect(missing).to_contain_text(words)
    missing.locator(f"li[data-code='{code}'] a").click()


def test_walk_a_patient_from_admission_to_therapy(page: Page, live_db, shot) -> None:
    live_db(make_staff, "physician", username="drwho", full_name="Dr. Who")
    counselor = live_db(make_staff, "counselor", username="cora", full_name="Cora Counselor")
    patient = live_db(make_patient, first_name="Avery", last_name="Walker")
    live_db(admit, patient, counselor, days_ago=2)
    live_db(make_module, title="How addiction develops", core=True)
    live_db(make_module, title="Relapse prevention", core=True)
    chart = f"/patients/{patient.id}"
    _sign_in(page, "drwho")

    # Diagnosis: refused, with both requirements in words and links to record them.
    _move(page, chart)
    expect(page.locator("#missing")).to_contain_text("A level-of-care decision")
    shot(page, "pathway-refused-diagnosis")
    _refused_then_follow(page, "signed_diagnosis", "A signed diagnostic assessment")
    for n in (1, 2, 4, 10, 11):
        page.check(f"#criterion-{n}")
    page.get_by_label("Physical evaluation").fill("Fine tremor, BP 148/92.")
    page.get_by_label("Psychological evaluation").fill("Anxious, oriented, no suicidal ideation.")
    page.get_by_label("Co-occurring conditions").fill("F41.1")
    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_text("Assessment signed.")).to_be_visible()
    _move(page, chart)
    _refused_then_follow(page, "level_of_care", "A level-of-care decision")
    page.select_option("#asam_edition", "4")
    page.select_option("#level", "3.5")
    for n, v in zip(range(1, 7), (2, 1, 2, 3, 3, 2), strict=True):
        page.select_option(f"#d{n}", str(v))
    page.get_by_label("Rationale").fill("High relapse risk; unsupportive home.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Level of care 3.5 recorded")).to_be_visible()
    _move(page, chart)
    expect(page.get_by_text("Moved to Detox.")).to_be_visible()

    # Detox: a withdrawal score is needed.
    _move(page, chart)
    _refused_then_follow(page, "withdrawal_score", "At least one withdrawal score")
    for i in range(22):
        page.select_option(f"#item_{i}", "1" if i < 6 else "0")
    page.get_by_role("button", name="Record score").click()
    expect(page.get_by_text("CIWA-B 6: mild.")).to_be_visible()
    expect(page.locator("svg.withdrawal-chart")).to_be_visible()
    shot(page, "pathway-withdrawal-chart")
    _move(page, chart)
    expect(page.get_by_text("Moved to Taper.")).to_be_visible()

    # Taper: order a plan.
    _move(page, chart)
    _refused_then_follow(page, "taper_plan", "A taper plan")
    page.get_by_label("Medication").fill("clonazepam")
    page.get_by_label("Starting daily dose (mg)").fill("2")
    page.get_by_label("Dose increment (mg, smallest tablet step)").fill("0.125")
    page.get_by_role("button", name="Order taper").click()
    expect(page.get_by_text(re.compile(r"Taper ordered: \d+ steps"))).to_be_visible()
    expect(page.get_by_text("VA/DoD 2021")).to_be_visible()
    shot(page, "pathway-taper-plan")
    _move(page, chart)
    expect(page.get_by_text("Moved to Personalised plan.")).to_be_visible()

    # Plan: write and sign the treatment plan.
    _move(page, chart)
    _refused_then_follow(page, "signed_treatment_plan", "A signed treatment plan")
    page.fill("#p0_desc", "Benzodiazepine dependence")
    page.fill("#p0_g0_desc", "Stay abstinent")
    page.fill("#p0_g0_o0_desc", "Attend every group")
    page.fill("#p0_g0_o0_date", (today() + timedelta(days=30)).isoformat())
    page.fill("#p0_g0_o0_int", "CBT twice a week")
    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_text("Treatment plan version 1 signed.")).to_be_visible()
    _move(page, chart)
    expect(page.get_by_text("Moved to Education.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # Education: the counselor delivers the core modules, then moves to therapy.
    _sign_in(page, "cora")
    _move(page, chart)
    _refused_then_follow(page, "core_education", "Every core education module delivered")
    for title in ("How addiction develops", "Relapse prevention"):
        page.select_option("#module_id", label=f"{title} (core)")
        page.get_by_role("button", name="Record").click()
        expect(page.get_by_text(f"Recorded: {title}.")).to_be_visible()
    _move(page, chart)
    expect(page.get_by_text("Moved to Therapy.")).to_be_visible()
    expect(page.locator(".stage-pill")).to_have_text("Therapy")
    shot(page, "pathway-therapy-chart")
