"""Admissions reads: pipeline, waitlist, occupancy, coverage status, review lists, funnel.

Aggregated in SQL, in a bounded number of queries per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.core.db import utcnow
from casemgr.core.sqlfuncs import days_between
from casemgr.core.timeutil import today
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.intake.models import (
    CATEGORIES,
    CATEGORY_SETTINGS,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    URGENCIES,
    Authorization,
    Coverage,
    Inquiry,
    InquiryStatusChange,
    Place,
    Verification,
)
from casemgr.patients.models import Patient

#: Most urgent first (the waitlist's first sort key).
URGENCY_RANK = sa.case({u: i for i, u in enumerate(URGENCIES)}, value=Inquiry.urgency)
#: Verification statuses that settle who pays (insurance confirmed, or the patient).
SETTLED = ("verified", "self_pay")


def pipeline_order() -> tuple[Any, ...]:
    """Order inquiries by urgency, then longest wait, then id (stable)."""
    return (URGENCY_RANK, Inquiry.first_contact_on, Inquiry.id)


def inquiry_filter(
    *, status: str | None = None, overdue: bool | None = None, q: str | None = None
) -> sa.ColumnElement[bool]:
    """Build the WHERE clause of inquiry lists."""
    conditions: list[sa.ColumnElement[bool]] = []
    if status:
        conditions.append(Inquiry.status == status)
    if overdue is not None:
        is_overdue = sa.and_(
            Inquiry.status.in_(OPEN_STATUSES),
            Inquiry.follow_up_on.is_not(None),
            Inquiry.follow_up_on < today(),
        )
        conditions.append(is_overdue if overdue else sa.not_(is_overdue))
    if q:
        pattern = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%") + "%"
        conditions.append(
            sa.or_(
                sa.func.lower(Inquiry.first_name).like(pattern, escape="\\"),
                sa.func.lower(Inquiry.last_name).like(pattern, escape="\\"),
            )
        )
    return sa.and_(sa.true(), *conditions)


def board(limit: int | None = None, offset: int = 0) -> dict[str, list[Inquiry]]:
    """Return open inquiries by status for the pipeline board, in one query.

    With ``limit``, each column holds its rows ``offset + 1`` to ``offset + limit`` (the board
    is paged column by column, so one long column does not push the others off the page).
    """
    columns: dict[str, list[Inquiry]] = {s: [] for s in OPEN_STATUSES}
    query = sa.select(Inquiry).where(Inquiry.status.in_(OPEN_STATUSES))
    if limit is not None:
        ranked = (
            sa.select(
                Inquiry.id,
                sa.func.row_number()
                .over(partition_by=Inquiry.status, order_by=pipeline_order())
                .label("rank"),
            )
            .where(Inquiry.status.in_(OPEN_STATUSES))
            .subquery()
        )
        query = query.join(ranked, ranked.c.id == Inquiry.id).where(
            ranked.c.rank > offset, ranked.c.rank <= offset + limit
        )
    for inquiry in db.session.scalars(query.order_by(*pipeline_order())):
        columns[inquiry.status].append(inquiry)
    return columns


def open_counts() -> dict[str, int]:
    """Count open inquiries by status (the board's column badges and its pager)."""
    rows = db.session.execute(
        sa.select(Inquiry.status, sa.func.count(Inquiry.id))
        .where(Inquiry.status.in_(OPEN_STATUSES))
        .group_by(Inquiry.status)
    ).all()
    return {status: 0 for status in OPEN_STATUSES} | {status: n for status, n in rows}


def closed_counts(days: int = 30) -> dict[str, int]:
    """Count inquiries admitted or closed in the last ``days`` days (the board's footer)."""
    since = utcnow() - timedelta(days=days)
    rows = db.session.execute(
        sa.select(Inquiry.status, sa.func.count(Inquiry.id))
        .where(Inquiry.status.not_in(OPEN_STATUSES), Inquiry.updated_at >= since)
        .group_by(Inquiry.status)
    ).all()
    return {status: n for status, n in rows}


def waitlist_query() -> sa.Select[tuple[Inquiry]]:
    """Select the waitlist: most urgent first, then the longest wait."""
    return sa.select(Inquiry).where(Inquiry.status == "waitlist").order_by(*pipeline_order())


def waitlist() -> list[Inquiry]:
    """Return the whole waitlist, in its order."""
    return list(db.session.scalars(waitlist_query()))


def overdue_query() -> sa.Select[tuple[Inquiry]]:
    """Select open inquiries whose follow-up date has passed, the oldest first."""
    return (
        sa.select(Inquiry)
        .where(inquiry_filter(overdue=True))
        .order_by(Inquiry.follow_up_on, URGENCY_RANK, Inquiry.id)
    )


def overdue_follow_ups() -> list[Inquiry]:
    """Return every open inquiry whose follow-up date has passed, the oldest first."""
    return list(db.session.scalars(overdue_query()))


@dataclass(frozen=True)
class Occupancy:
    """Places in one category against the active episodes using them."""

    category: str
    capacity: int | None  #: None until an admin sets it
    occupied: int
    waiting: int

    @property
    def free(self) -> int | None:
        """Return the places left (negative when over capacity), None when unset."""
        return None if self.capacity is None else self.capacity - self.occupied

    @property
    def full(self) -> bool:
        """Tell whether every place is taken."""
        return self.capacity is not None and self.occupied >= self.capacity


def category_of_setting() -> sa.Case[Any]:
    """Return a SQL expression mapping an episode's TEDS service setting to its category."""
    return sa.case(
        *[
            (Episode.service_setting.in_(settings), category)
            for category, settings in CATEGORY_SETTINGS.items()
        ],
        else_=None,
    )


def occupancy() -> list[Occupancy]:
    """Return capacity, occupancy (active episodes by setting) and waitlist per category."""
    capacity = dict(db.session.execute(sa.select(Place.category, Place.capacity)).all())
    category = category_of_setting()
    occupied = dict(
        db.session.execute(
            sa.select(category, sa.func.count(Episode.id))
            .where(Episode.status == "active")
            .group_by(category)
        ).all()
    )
    waiting = dict(
        db.session.execute(
            sa.select(Inquiry.requested_category, sa.func.count(Inquiry.id))
            .where(Inquiry.status == "waitlist")
            .group_by(Inquiry.requested_category)
        ).all()
    )
    return [
        Occupancy(c, capacity.get(c), occupied.get(c, 0), waiting.get(c, 0)) for c in CATEGORIES
    ]


def _latest_verification() -> Any:
    """Select each coverage's latest verification id."""
    return (
        sa.select(
            Verification.coverage_id.label("coverage_id"),
            sa.func.max(Verification.id).label("verification_id"),
        )
        .group_by(Verification.coverage_id)
        .subquery()
    )


def coverages_with_status(patient_ids: list[int], *, active_only: bool = False) -> list[Any]:
    """Return rows (Coverage, latest Verification or None) for patients, primary first."""
    if not patient_ids:
        return []
    latest = _latest_verification()
    query = (
        sa.select(Coverage, Verification)
        .outerjoin(latest, latest.c.coverage_id == Coverage.id)
        .outerjoin(Verification, Verification.id == latest.c.verification_id)
        .where(Coverage.patient_id.in_(patient_ids))
        .order_by(Coverage.patient_id, sa.desc(Coverage.active), Coverage.priority, Coverage.id)
    )
    if active_only:
        query = query.where(Coverage.active)
    return list(db.session.execute(query).all())


def verifications(coverage_ids: list[int]) -> dict[int, list[Verification]]:
    """Return every verification of the given coverages, newest first, in one query."""
    out: dict[int, list[Verification]] = {cid: [] for cid in coverage_ids}
    if not coverage_ids:
        return out
    for v in db.session.scalars(
        sa.select(Verification)
        .where(Verification.coverage_id.in_(coverage_ids))
        .order_by(Verification.id.desc())
        .options(sa.orm.joinedload(Verification.by))
    ):
        out[v.coverage_id].append(v)
    return out


def settled_coverage_exists() -> sa.Exists:
    """Build SQL: the episode's patient has an active coverage whose latest check settles it."""
    latest = _latest_verification()
    return sa.exists(
        sa.select(Coverage.id)
        .join(latest, latest.c.coverage_id == Coverage.id)
        .join(Verification, Verification.id == latest.c.verification_id)
        .where(
            Coverage.patient_id == Episode.patient_id,
            Coverage.active,
            Verification.status.in_(SETTLED),
        )
        .correlate(Episode)
    )


def unverified_query() -> sa.Select[Any]:
    """Select active episodes (with patients) whose patient has no settled active coverage."""
    return (
        sa.select(Episode, Patient)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(Episode.status == "active", sa.not_(settled_coverage_exists()))
        .order_by(Episode.admitted_on, Episode.id)
    )


def unverified_admissions() -> list[Any]:
    """Return active episodes whose patient has no verified (or self-pay) active coverage."""
    return list(db.session.execute(unverified_query()).all())


@dataclass(frozen=True)
class ReviewItem:
    """One authorization due for utilization review."""

    authorization: Authorization
    episode: Episode
    patient: Patient
    days_used: int  #: days of the stay since the authorization started (today included)
    days_left: int  #: days until it ends (negative once ended)

    @property
    def exceeded(self) -> bool:
        """Tell whether the stay has used more days than approved, or gone past the end."""
        return self.days_used > self.authorization.approved_days or self.days_left < 0


def utilization_review_query(within_days: int, day: date) -> sa.Select[Any]:
    """Select authorizations of active episodes ending soon or exceeded, soonest end first.

    Listed: current authorizations ending within ``within_days`` days, or whose approved days
    the stay has already used up.

    Days used count the stay from the later of the authorization's start and the admission
    through today: the days the payer counts against the approved days at that level. An
    authorization replaced by a later one for the same episode and level is not listed.
    The whole rule is SQL, so the list pages in the database.
    """
    newer = sa.orm.aliased(Authorization)
    superseded = sa.exists(
        sa.select(newer.id).where(
            newer.episode_id == Authorization.episode_id,
            newer.level == Authorization.level,
            sa.or_(
                newer.ends_on > Authorization.ends_on,
                sa.and_(newer.ends_on == Authorization.ends_on, newer.id > Authorization.id),
            ),
        )
    )
    today_ = sa.literal(day, sa.Date)
    # used = day - max(starts_on, admitted_on) + 1 exceeds approved_days when both differences
    # do; an end before today is past (days left < 0) and within any window.
    exceeded = sa.and_(
        days_between(today_, Authorization.starts_on) + 1 > Authorization.approved_days,
        days_between(today_, Episode.admitted_on) + 1 > Authorization.approved_days,
    )
    return (
        sa.select(Authorization, Episode, Patient)
        .join(Episode, Episode.id == Authorization.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(
            Episode.status == "active",
            Authorization.starts_on <= day,
            sa.not_(superseded),
            sa.or_(Authorization.ends_on <= day + timedelta(days=within_days), exceeded),
        )
        .order_by(Authorization.ends_on, Authorization.id)
    )


def review_items(rows: list[Any], day: date) -> list[ReviewItem]:
    """Turn (authorization, episode, patient) rows into review items with their day counts."""
    items = []
    for auth, episode, patient in rows:
        start = max(auth.starts_on, episode.admitted_on)
        used = max((day - start).days + 1, 0)
        items.append(ReviewItem(auth, episode, patient, used, (auth.ends_on - day).days))
    return items


def utilization_review(within_days: int, now: date | None = None) -> list[ReviewItem]:
    """Return every authorization due for review (see utilization_review_query)."""
    day = now or today()
    rows = db.session.execute(utilization_review_query(within_days, day)).all()
    return review_items(list(rows), day)


@dataclass(frozen=True)
class Funnel:
    """The inquiry funnel of one date range (first contact dates)."""

    start: date
    end: date
    inquiries: int
    screened: int
    waitlisted: int
    admitted: int
    lost: dict[str, int]  #: referred_out / declined / lost_contact
    still_open: int
    median_days_waiting: float | None

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        """Return a fraction 0-1, or None when there is nothing to divide by."""
        return round(part / whole, 4) if whole else None

    @property
    def screened_rate(self) -> float | None:
        """Share of inquiries that reached screening."""
        return self.rate(self.screened, self.inquiries)

    @property
    def admitted_of_screened(self) -> float | None:
        """Share of screened inquiries that were admitted."""
        return self.rate(self.admitted, self.screened)

    @property
    def admitted_rate(self) -> float | None:
        """Share of all inquiries that were admitted."""
        return self.rate(self.admitted, self.inquiries)


def _reached(statuses: tuple[str, ...]) -> sa.ColumnElement[bool]:
    """Build SQL: the inquiry has ever been at one of the statuses (from its history)."""
    return sa.exists(
        sa.select(InquiryStatusChange.id).where(
            InquiryStatusChange.inquiry_id == Inquiry.id,
            InquiryStatusChange.to_status.in_(statuses),
        )
    )


def _count_if(condition: sa.ColumnElement[bool]) -> Any:
    """Build SQL counting the rows that meet a condition."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def funnel(start: date, end: date) -> Funnel:
    """Compute the funnel of inquiries first contacted between two dates (inclusive).

    Screened = ever reached screening (or later); waitlisted = ever on the waitlist;
    admitted = admitted now; lost = closed by status; median days waiting of the admitted.
    """
    cohort = Inquiry.first_contact_on.between(start, end)
    row = db.session.execute(
        sa.select(
            sa.func.count(Inquiry.id),
            _count_if(_reached(("screening", "waitlist", "admitted"))),
            _count_if(_reached(("waitlist",))),
            _count_if(Inquiry.status == "admitted"),
            *[_count_if(Inquiry.status == s) for s in CLOSED_STATUSES],
            _count_if(Inquiry.status.in_(OPEN_STATUSES)),
        ).where(cohort)
    ).one()
    total, screened, waitlisted, admitted, *rest = (int(v or 0) for v in row)
    lost = dict(zip(CLOSED_STATUSES, rest[:-1], strict=True))
    return Funnel(
        start, end, total, screened, waitlisted, admitted, lost, rest[-1], _median_wait(cohort)
    )


def _median_wait(cohort: sa.ColumnElement[bool]) -> float | None:
    """Return the median days waiting of the cohort's admissions (middle rows, in SQL)."""
    base = (
        sa.select(Episode.days_waiting)
        .join(Inquiry, Inquiry.episode_id == Episode.id)
        .where(cohort, Episode.days_waiting.is_not(None))
    )
    n = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    if n == 0:
        return None
    middle = list(
        db.session.scalars(
            base.order_by(Episode.days_waiting).offset((n - 1) // 2).limit(2 - n % 2)
        )
    )
    return sum(middle) / len(middle)
