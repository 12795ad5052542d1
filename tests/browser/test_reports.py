"""An administrator opens every report in a real browser: chart, tables, CSV equal to them."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from casemgr.episodes import services
from casemgr.reports.registry import REPORTS
from tests.factories import PASSWORD, admit, make_patient, make_staff


def _dataset() -> None:
    counselor = make_staff("counselor", full_name="Alex A")
    for admitted, discharged, reason in [
        (date(2025, 1, 1), date(2025, 3, 31), 1),
        (date(2025, 2, 1), date(2025, 2, 10), 2),
        (date(2025, 3, 1), date(2025, 6, 1), 4),
    ]:
        episode = services.admit(
            counselor,
            make_patient(),
            admitted_on=admitted,
            primary_counselor_id=counselor.id,
            primary_substance=13,
            referral_source=1,
            service_setting=5,
        )
        services.discharge(counselor, episode, discharged_on=discharged, reason=reason)
    admit(make_patient(), counselor, days_ago=12)


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _page_tables(page: Page) -> list[list[str]]:
    rows: list[list[str]] = []
    for table in page.locator("table.report-table").all():
        rows.append([table.get_attribute("data-title") or ""])
        rows.append(table.locator("thead th").all_inner_texts())
        for tr in table.locator("tbody tr").all():
            cells = tr.locator("td").all_inner_texts()
            if cells != ["Nothing in this range."]:
                rows.append(cells)
    return rows


@pytest.mark.parametrize("slug", list(REPORTS))
def test_admin_opens_report_sees_chart_and_csv_matches_table(
    page: Page, live_db, shot, slug: str
) -> None:
    live_db(make_staff, "admin", username="boss")
    live_db(_dataset)
    _sign_in(page, "boss")
    page.goto(f"/reports/{slug}?from=2025-01-01&to={date.today().isoformat()}")
    expect(page.get_by_role("heading", level=1)).to_have_text(REPORTS[slug].title)
    expect(page.locator("#chart svg")).to_be_visible()
    shot(page, f"report-{slug}")
    with page.expect_download() as download_info:
        page.locator("#csv-link").click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    csv_rows = [row for row in csv.reader(io.StringIO(text)) if row]
    assert csv_rows == _page_tables(page)


def test_counselor_cannot_open_reports(page: Page, live_db) -> None:
    live_db(make_staff, "counselor", username="cora")
    _sign_in(page, "cora")
    response = page.goto("/reports/census")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="Reports")).to_have_count(0)
