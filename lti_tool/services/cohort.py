"""Read-side queries for the educator's views of a cohort: who is in the course, how far
each learner got with an activity, what waits for review, and the indicator heatmap.

Learners of an activity are the union of the course roster (the NRPS copy kept in
``roster_members``, learners only) and everyone who launched the activity or has an
attempt on it (a learner who launched before the next roster sync still shows). Each is
merged with their latest attempt. Filtering, counting and paging happen in SQL, so a page
costs the same handful of statements whatever the size of the course; the heatmap is
worked out in Python from the attempts already loaded for the page.

A *scope* limits every query to some learners: ``None`` for educators (the whole
cohort), a set of subs for a Mentor (the launch's ``role_scope_mentor``; empty means
nobody). Nothing here writes or commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session, aliased

from lti_tool import assessments
from lti_tool.persistence import models

NOT_STARTED = "not_started"
#: Statuses a learner row can have, in lifecycle order (``not_started``: no attempt).
STATUSES = (NOT_STARTED, "draft", "submitted", "in_review", "returned", "final")
STATUS_LABELS = {
    NOT_STARTED: "Not started",
    "draft": "In progress",
    "submitted": "Submitted",
    "in_review": "In review",
    "returned": "Returned",
    "final": "Final",
}
#: Statuses that wait for a reviewer.
REVIEW_STATUSES = ("submitted", "in_review")

# Heatmap cell states (stable codes; the page and the CSV give them words).
MET = "met"
NOT_MET = "not_met"
PENDING = "pending"
CELL_NOT_STARTED = "not_started"
NOT_ASSESSED = "not_assessed"
CELL_LABELS = {
    MET: "Met",
    NOT_MET: "Not met",
    PENDING: "Pending",
    CELL_NOT_STARTED: "Not started",
    NOT_ASSESSED: "Not assessed",
}

#: Cells a spreadsheet would run as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

DEFAULT_PER_PAGE = 50
MAX_SEARCH_LENGTH = 100


# -- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortFilters:
    """What the educator narrowed the learner list to (from the page's GET parameters)."""

    status: str | None = None
    needs_review: bool = False
    level: int | None = None
    search: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> CohortFilters:
        """Read ``status``, ``needs_review``, ``level`` and ``q``; values that make no sense
        are ignored rather than refused (they come from links and bookmarks)."""
        status = args.get("status") or None
        if status not in STATUSES:
            status = None
        level_raw = (args.get("level") or "").strip()
        level = int(level_raw) if re.fullmatch(r"[0-9]{1,2}", level_raw) else None
        search = " ".join((args.get("q") or "").split())[:MAX_SEARCH_LENGTH] or None
        needs_review = (args.get("needs_review") or "") in {"1", "on", "true", "yes"}
        return cls(status=status, needs_review=needs_review, level=level, search=search)

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.status or self.needs_review or self.level is not None or self.search)

    def as_args(self) -> dict[str, str]:
        """The filters as query parameters (for paging links and redirects)."""
        args: dict[str, str] = {}
        if self.status:
            args["status"] = self.status
        if self.needs_review:
            args["needs_review"] = "1"
        if self.level is not None:
            args["level"] = str(self.level)
        if self.search:
            args["q"] = self.search
        return args


# -- result shapes -------------------------------------------------------------------------


@dataclass
class LearnerRow:
    """One learner of the activity, merged with their latest attempt."""

    sub: str
    name: str
    email: str | None
    user_pk: int | None          # None: on the roster, never launched the tool
    on_roster: bool
    attempt: models.Attempt | None
    status: str
    attempt_count: int = 0
    cells: dict[str, str] = field(default_factory=dict)   # indicator id -> cell state
    result: assessments.AttemptResult | None = None
    domain: assessments.Attempt | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_final(self) -> bool:
        return self.status == "final"

    @property
    def level(self) -> int | None:
        """The level achieved, for a final attempt only (anything else may still change)."""
        if self.attempt is None or not self.is_final:
            return None
        return self.attempt.level_achieved

    @property
    def last_activity(self) -> datetime | None:
        return self.attempt.updated_at if self.attempt is not None else None

    @property
    def needs_review(self) -> bool:
        return self.status in REVIEW_STATUSES


@dataclass
class CohortPage:
    """One page of learners, with the totals the dashboard shows."""

    rows: list[LearnerRow]
    total: int                   # learners matching the filters
    page: int
    per_page: int
    status_counts: dict[str, int]   # over everyone in scope, unfiltered
    filters: CohortFilters

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def everyone(self) -> int:
        return sum(self.status_counts.values())

    @property
    def first_index(self) -> int:
        return 0 if not self.rows else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


@dataclass(frozen=True)
class QueueItem:
    """An attempt waiting for a reviewer."""

    attempt: models.Attempt
    learner_name: str
    sub: str

    @property
    def waiting_since(self) -> datetime | None:
        return self.attempt.submitted_at or self.attempt.updated_at


@dataclass
class ReviewQueue:
    """Attempts waiting for review, oldest first, and how many there are per status."""

    items: list[QueueItem]
    counts: dict[str, int]      # "submitted", "in_review"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class ActivitySummary:
    """An activity of a course with how its learners' latest attempts stand."""

    activity: models.Activity
    counts: dict[str, int]      # status -> learners (latest attempt), without not_started

    @property
    def started(self) -> int:
        return sum(self.counts.values())

    @property
    def awaiting_review(self) -> int:
        return sum(self.counts.get(s, 0) for s in REVIEW_STATUSES)

    @property
    def final(self) -> int:
        return self.counts.get("final", 0)


# -- the learner set -----------------------------------------------------------------------


def _roster_is_learner():
    # NRPS roles arrive as full URIs (".../membership#Learner") or short names; the JSON
    # list is matched as text so the filter runs in SQL on SQLite and PostgreSQL alike.
    return cast(models.RosterMember.roles, String).like("%Learner%")


def _launch_is_learner():
    roles = cast(models.LaunchSession.roles, String)
    return and_(
        roles.not_like("%Instructor%"),
        roles.not_like("%TeachingAssistant%"),
        roles.not_like("%Mentor%"),
    )


def _scoped(column, scope: frozenset[str] | None):
    if scope is None:
        return true()
    if not scope:
        return false()
    return column.in_(sorted(scope))


def _latest_attempts(activity_pk: int):
    """Each learner's latest attempt on the activity (highest number), as an alias."""
    newest = (
        select(models.Attempt.user_pk, func.max(models.Attempt.number).label("number"),
               func.count(models.Attempt.id).label("attempt_count"))
        .where(models.Attempt.activity_pk == activity_pk)
        .group_by(models.Attempt.user_pk)
        .subquery("newest")
    )
    rows = (
        select(models.Attempt, newest.c.attempt_count)
        .join(newest, and_(models.Attempt.user_pk == newest.c.user_pk,
                           models.Attempt.number == newest.c.number))
        .where(models.Attempt.activity_pk == activity_pk)
        .subquery("latest")
    )
    return aliased(models.Attempt, rows, name="latest"), rows.c.attempt_count


@dataclass
class _Base:
    """The shared FROM of the learner queries, built once per call."""

    statement: Select
    status: Any
    name: Any
    email: Any
    sub: Any
    latest: Any
    user: Any
    roster: Any
    attempt_count: Any


def _base(activity: models.Activity, scope: frozenset[str] | None) -> _Base:
    roster_subs = select(models.RosterMember.user_sub.label("sub")).where(
        models.RosterMember.context_pk == activity.context_pk,
        models.RosterMember.status == "Active",
        _roster_is_learner(),
        _scoped(models.RosterMember.user_sub, scope),
    )
    attempt_subs = (
        select(models.LtiUser.sub.label("sub"))
        .join(models.Attempt, models.Attempt.user_pk == models.LtiUser.id)
        .where(models.Attempt.activity_pk == activity.id,
               _scoped(models.LtiUser.sub, scope))
    )
    parts = [roster_subs, attempt_subs]
    if activity.resource_link_pk is not None:
        parts.append(
            select(models.LtiUser.sub.label("sub"))
            .join(models.LaunchSession, models.LaunchSession.user_pk == models.LtiUser.id)
            .where(models.LaunchSession.resource_link_pk == activity.resource_link_pk,
                   models.LaunchSession.registration_id == activity.registration_id,
                   _launch_is_learner(),
                   _scoped(models.LtiUser.sub, scope))
        )
    subs = union(*parts).subquery("learner_subs")

    roster = aliased(models.RosterMember, name="roster")
    user = aliased(models.LtiUser, name="learner")
    latest, attempt_count = _latest_attempts(activity.id)
    user_full_name = func.nullif(
        func.trim(func.coalesce(user.given_name, "") + literal(" ")
                  + func.coalesce(user.family_name, "")), "")
    name = func.coalesce(roster.name, user.name, user_full_name, roster.email, user.email,
                         subs.c.sub)
    email = func.coalesce(roster.email, user.email)
    status = func.coalesce(latest.status, literal(NOT_STARTED))
    statement = (
        select(subs.c.sub)
        .select_from(subs)
        .outerjoin(roster, and_(roster.context_pk == activity.context_pk,
                                roster.user_sub == subs.c.sub))
        .outerjoin(user, and_(user.registration_id == activity.registration_id,
                              user.sub == subs.c.sub))
        .outerjoin(latest, latest.user_pk == user.id)
    )
    return _Base(statement, status, name, email, subs.c.sub, latest, user, roster,
                 attempt_count)


def _filtered(base: _Base, filters: CohortFilters) -> Select:
    statement = base.statement
    if filters.status:
        statement = statement.where(base.status == filters.status)
    if filters.needs_review:
        statement = statement.where(base.status.in_(REVIEW_STATUSES))
    if filters.level is not None:
        statement = statement.where(base.latest.status == "final",
                                    base.latest.level_achieved == filters.level)
    if filters.search:
        needle = filters.search.lower()
        statement = statement.where(or_(
            func.lower(base.name).contains(needle, autoescape=True),
            func.lower(func.coalesce(base.email, "")).contains(needle, autoescape=True),
        ))
    return statement


def _row(base: _Base, record: Any) -> LearnerRow:
    attempt = record.latest
    return LearnerRow(
        sub=record.sub,
        name=record.learner_name,
        email=record.learner_email,
        user_pk=record.user_pk,
        on_roster=record.roster_pk is not None,
        attempt=attempt,
        status=attempt.status if attempt is not None else NOT_STARTED,
        attempt_count=record.attempt_count or 0,
    )


def _row_columns(base: _Base) -> list[Any]:
    return [
        base.name.label("learner_name"),
        base.email.label("learner_email"),
        base.user.id.label("user_pk"),
        base.roster.id.label("roster_pk"),
        base.latest,
        base.attempt_count.label("attempt_count"),
    ]


def status_counts(
    db: Session, activity: models.Activity, *, scope: frozenset[str] | None = None
) -> dict[str, int]:
    """How many learners in scope stand at each status (``not_started`` included)."""
    base = _base(activity, scope)
    statement = (
        base.statement.with_only_columns(base.status.label("status"), func.count())
        .group_by(base.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in db.execute(statement):
        counts[status] = counts.get(status, 0) + count
    return counts


def learner_page(
    db: Session,
    content: assessments.Content,
    activity: models.Activity,
    *,
    filters: CohortFilters | None = None,
    scope: frozenset[str] | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> CohortPage:
    """One page of the activity's learners (by name), merged with their latest attempt
    and judged per indicator for the heatmap. Three statements whatever the cohort size."""
    filters = filters or CohortFilters()
    base = _base(activity, scope)
    filtered = _filtered(base, filters)
    total = db.scalar(
        select(func.count()).select_from(filtered.with_only_columns(base.sub).subquery())
    ) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    statement = (
        filtered.add_columns(*_row_columns(base))
        .order_by(func.lower(base.name), base.sub)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = [_row(base, record) for record in db.execute(statement)]
    judge_rows(content, activity, rows)
    return CohortPage(rows=rows, total=total, page=page, per_page=per_page,
                      status_counts=status_counts(db, activity, scope=scope), filters=filters)


def all_learners(
    db: Session,
    content: assessments.Content,
    activity: models.Activity,
    *,
    scope: frozenset[str] | None = None,
    batch: int = 500,
) -> Iterator[LearnerRow]:
    """Every learner in scope, by name, judged per indicator (for the CSV export); read in
    batches so a large course does not sit in memory at once."""
    base = _base(activity, scope)
    statement = (
        base.statement.add_columns(*_row_columns(base))
        .order_by(func.lower(base.name), base.sub)
    )
    offset = 0
    while True:
        chunk = [_row(base, r)
                 for r in db.execute(statement.limit(batch).offset(offset))]
        judge_rows(content, activity, chunk)
        yield from chunk
        if len(chunk) < batch:
            return
        offset += batch


# -- judging (pure) ------------------------------------------------------------------------


def activity_settings(activity: models.Activity) -> assessments.ActivitySettings:
    """The activity's current settings as the domain's object."""
    return assessments.settings_from_dict(dict(activity.settings or {}))


def assessed_indicators(
    content: assessments.Content, activity: models.Activity
) -> tuple[assessments.Indicator, ...]:
    """The indicators the activity assesses now (levels 1 up to its top level): the
    heatmap's columns."""
    settings = activity_settings(activity)
    dimension = content.framework.dimension(settings.dimension_id)
    return dimension.indicators_up_to(min(settings.top_level, dimension.top_level))


def cell_state(
    attempt: assessments.Attempt | None, outcome: assessments.IndicatorOutcome | None
) -> str:
    """The heatmap state of one indicator for one learner.

    ``met`` when the rules say so; ``pending`` while the judgement can still change without
    the learner doing more (a draft or returned attempt, or only the review outstanding);
    ``not_met`` when it was judged and fell short; ``not_started`` without an attempt;
    ``not_assessed`` when the attempt's pinned settings did not assess the indicator.
    """
    if attempt is None:
        return CELL_NOT_STARTED
    if outcome is None:
        return NOT_ASSESSED
    if outcome.met:
        return MET
    if attempt.is_editable_by_learner:
        return PENDING
    if not attempt.is_final and set(outcome.unmet_reasons) <= {"review_pending"}:
        return PENDING
    return NOT_MET


def judge_rows(
    content: assessments.Content, activity: models.Activity, rows: Iterable[LearnerRow]
) -> None:
    """Fill each row's domain attempt, result and heatmap cells (no database access)."""
    indicators = assessed_indicators(content, activity)
    for row in rows:
        if row.attempt is None:
            row.cells = {i.identifier: CELL_NOT_STARTED for i in indicators}
            continue
        domain = assessments.Attempt.from_dict(row.attempt.state)
        bank = content.bank_for(domain.settings.dimension_id)
        result = assessments.evaluate(domain, content.framework, bank)
        outcomes = {o.indicator.identifier: o for o in result.outcomes}
        row.domain, row.result = domain, result
        row.cells = {i.identifier: cell_state(domain, outcomes.get(i.identifier))
                     for i in indicators}


# -- review queue --------------------------------------------------------------------------


def review_queue(
    db: Session,
    activity: models.Activity,
    *,
    scope: frozenset[str] | None = None,
    limit: int = 50,
) -> ReviewQueue:
    """Attempts waiting for a reviewer (submitted or in review), oldest first."""
    waiting = and_(models.Attempt.activity_pk == activity.id,
                   models.Attempt.status.in_(REVIEW_STATUSES),
                   _scoped(models.LtiUser.sub, scope))
    statement = (
        select(models.Attempt, models.LtiUser)
        .join(models.LtiUser, models.LtiUser.id == models.Attempt.user_pk)
        .where(waiting)
        .order_by(func.coalesce(models.Attempt.submitted_at, models.Attempt.updated_at),
                  models.Attempt.id)
        .limit(limit)
    )
    items = [QueueItem(attempt, user.display_name, user.sub)
             for attempt, user in db.execute(statement)]
    counts = dict.fromkeys(REVIEW_STATUSES, 0)
    count_statement = (
        select(models.Attempt.status, func.count())
        .join(models.LtiUser, models.LtiUser.id == models.Attempt.user_pk)
        .where(waiting)
        .group_by(models.Attempt.status)
    )
    for status, count in db.execute(count_statement):
        counts[status] = count
    return ReviewQueue(items=items, counts=counts)


# -- single attempts, for the review and history screens ------------------------------------


def visible_attempt(
    db: Session,
    attempt_pk: int,
    *,
    registration_id: int,
    activity_pks: Iterable[int],
    scope: frozenset[str] | None = None,
) -> models.Attempt | None:
    """The attempt ``attempt_pk`` when it belongs to one of ``activity_pks`` of this
    registration and its learner is in scope; otherwise None (the page answers 404, so
    nobody learns whether another course's attempt exists)."""
    allowed = sorted(set(activity_pks))
    if not allowed:
        return None
    statement = (
        select(models.Attempt)
        .join(models.Activity, models.Activity.id == models.Attempt.activity_pk)
        .join(models.LtiUser, models.LtiUser.id == models.Attempt.user_pk)
        .where(models.Attempt.id == attempt_pk,
               models.Activity.id.in_(allowed),
               models.Activity.registration_id == registration_id,
               models.LtiUser.registration_id == registration_id,
               _scoped(models.LtiUser.sub, scope))
    )
    return db.scalar(statement)


def learner_attempts(db: Session, activity: models.Activity, user_pk: int) -> list[models.Attempt]:
    """All of one learner's attempts on the activity, newest first."""
    return list(db.scalars(
        select(models.Attempt)
        .where(models.Attempt.activity_pk == activity.id, models.Attempt.user_pk == user_pk)
        .order_by(models.Attempt.number.desc())
    ))


def visible_learner(
    db: Session,
    activity: models.Activity,
    user_pk: int,
    *,
    scope: frozenset[str] | None = None,
) -> models.LtiUser | None:
    """The learner ``user_pk`` when they have an attempt on the activity and are in scope."""
    statement = (
        select(models.LtiUser)
        .where(models.LtiUser.id == user_pk,
               models.LtiUser.registration_id == activity.registration_id,
               _scoped(models.LtiUser.sub, scope),
               select(models.Attempt.id)
               .where(models.Attempt.user_pk == models.LtiUser.id,
                      models.Attempt.activity_pk == activity.id)
               .exists())
    )
    return db.scalar(statement)


# -- course overview -----------------------------------------------------------------------


def course_summaries(
    db: Session, activities: Sequence[models.Activity]
) -> list[ActivitySummary]:
    """Each activity with its learners' latest-attempt statuses (one statement)."""
    ids = [a.id for a in activities]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        newest = (
            select(models.Attempt.activity_pk, models.Attempt.user_pk,
                   func.max(models.Attempt.number).label("number"))
            .where(models.Attempt.activity_pk.in_(ids))
            .group_by(models.Attempt.activity_pk, models.Attempt.user_pk)
            .subquery()
        )
        statement = (
            select(models.Attempt.activity_pk, models.Attempt.status, func.count())
            .join(newest, and_(models.Attempt.activity_pk == newest.c.activity_pk,
                               models.Attempt.user_pk == newest.c.user_pk,
                               models.Attempt.number == newest.c.number))
            .group_by(models.Attempt.activity_pk, models.Attempt.status)
        )
        for activity_pk, status, count in db.execute(statement):
            counts[activity_pk][status] = count
    return [ActivitySummary(a, counts[a.id]) for a in activities]


def roster_learner_count(db: Session, context: models.LtiContext) -> int:
    """How many active learners the course roster lists."""
    return db.scalar(
        select(func.count()).select_from(models.RosterMember).where(
            models.RosterMember.context_pk == context.id,
            models.RosterMember.status == "Active",
            _roster_is_learner(),
        )
    ) or 0


# -- CSV export ----------------------------------------------------------------------------


def neutralise_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet will run as a formula: text starting with
    ``= + - @``, a tab or a carriage return gets a leading single quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _signers(db: Session, attempt_pks: Sequence[int]) -> dict[int, str]:
    """Who signed each attempt off, from the history (the last sign-off wins)."""
    if not attempt_pks:
        return {}
    statement = (
        select(models.AttemptEvent.attempt_pk, models.AttemptEvent.actor_name)
        .where(models.AttemptEvent.attempt_pk.in_(list(attempt_pks)),
               models.AttemptEvent.kind == "signed_off")
        .order_by(models.AttemptEvent.at, models.AttemptEvent.id)
    )
    return {pk: name for pk, name in db.execute(statement) if name}


def export_header(indicators: Sequence[assessments.Indicator]) -> list[str]:
    """The CSV's first row."""
    return ["Name", "Email", "Status", "Level achieved", "Target met", "Submitted at",
            "Signed off by", *[f"{i.code} met" for i in indicators]]


def export_rows(
    db: Session,
    content: assessments.Content,
    activity: models.Activity,
    *,
    scope: frozenset[str] | None = None,
) -> Iterator[list[str]]:
    """The CSV export, header first: one row per learner in scope, every cell neutralised
    against formula injection."""
    indicators = assessed_indicators(content, activity)
    yield export_header(indicators)
    batch: list[LearnerRow] = []

    def flush(rows: list[LearnerRow]) -> Iterator[list[str]]:
        signers = _signers(db, [r.attempt.id for r in rows if r.attempt is not None])
        for row in rows:
            yield [neutralise_cell(v) for v in _export_values(row, indicators, signers)]

    for row in all_learners(db, content, activity, scope=scope):
        batch.append(row)
        if len(batch) >= 500:
            yield from flush(batch)
            batch = []
    yield from flush(batch)


def _export_values(
    row: LearnerRow, indicators: Sequence[assessments.Indicator], signers: dict[int, str]
) -> list[Any]:
    final = row.is_final and row.result is not None
    signer = ""
    if row.attempt is not None and row.domain is not None and row.domain.signed_off_by:
        signer = signers.get(row.attempt.id, row.domain.signed_off_by)
    submitted = row.attempt.submitted_at if row.attempt is not None else None
    cells = [CELL_LABELS[row.cells.get(i.identifier, CELL_NOT_STARTED)] for i in indicators]
    return [
        row.name,
        row.email or "",
        row.status_label,
        row.level if row.level is not None else "",
        ("yes" if row.result.target_met else "no") if final else "",
        submitted.strftime("%Y-%m-%d %H:%M UTC") if submitted else "",
        signer,
        *cells,
    ]


def counts_by_state(rows: Iterable[LearnerRow]) -> dict[str, dict[str, int]]:
    """Per indicator, how many of ``rows`` are in each cell state (the heatmap's footer)."""
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        for indicator_id, state in row.cells.items():
            bucket = totals.setdefault(indicator_id, {})
            bucket[state] = bucket.get(state, 0) + 1
    return totals


__all__ = [
    "CELL_LABELS",
    "STATUSES",
    "STATUS_LABELS",
    "ActivitySummary",
    "CohortFilters",
    "CohortPage",
    "LearnerRow",
    "QueueItem",
    "ReviewQueue",
    "activity_settings",
    "all_learners",
    "assessed_indicators",
    "cell_state",
    "counts_by_state",
    "course_summaries",
    "export_header",
    "export_rows",
    "judge_rows",
    "learner_attempts",
    "learner_page",
    "neutralise_cell",
    "review_queue",
    "roster_learner_count",
    "status_counts",
    "visible_attempt",
    "visible_learner",
]
