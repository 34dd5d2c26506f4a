"""The grade outbox: what the gradebook must learn, written with the attempt's change.

Nothing here talks to a platform. A use case that changes an attempt calls
:func:`enqueue_score` in the same transaction; the delivery loop (``lti_tool.grading``)
sends the rows later. A newer row for a learner's resource link supersedes older ones
that were not delivered, so an older score never reaches the gradebook after a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lti_tool import assessments
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import (
    Activity,
    Attempt,
    GradeOutbox,
    LtiUser,
    ResourceLink,
)

#: The ``tag`` of the line items this tool creates and looks for (with the resource link
#: id) when a launch carried no ``lineitem``. Deep linking uses the same tag.
LINEITEM_TAG = "ksf-level"

PENDING = "pending"
DELIVERED = "delivered"
SUPERSEDED = "superseded"
FAILED = "failed"
STATUSES = (PENDING, DELIVERED, FAILED, SUPERSEDED)


#: Set by every delivery loop at most once a minute; gone five minutes after the last.
WORKER_SEEN_KEY = "grading:worker-seen"
WORKER_SEEN_SECONDS = 300


def delivery_running(store) -> bool:
    """Whether a delivery loop (``lti-tool worker`` or the server's thread) ran lately; the
    roster sync and grade delivery both depend on one."""
    return store.get(WORKER_SEEN_KEY) is not None


def describe_age(delta: timedelta | None) -> str:
    """How old something is, in words an admin reads at a glance ("5 minutes")."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    if seconds < 172800:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


class GradeServiceError(Exception):
    """A grade outbox change that cannot be made; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DeliveryState:
    """Where a learner's latest score stands, for the educator dashboard.

    ``state`` is "none" (nothing queued), "pending" (queued or retrying), "delivered" or
    "failed" (needs a person: ``detail`` is the platform's reason, ``code`` stable).
    """

    state: str
    detail: str | None
    outbox_id: int | None
    at: datetime | None
    code: str | None = None


NO_DELIVERY = DeliveryState("none", None, None, None)


def _final_already_queued(db: Session, row: Attempt) -> bool:
    """Whether a final score was queued for this learner's line item (any attempt):
    a second attempt's "Submitted" would otherwise wipe the first attempt's grade."""
    if row.final_score_sent:
        return True
    other = db.scalar(
        select(Attempt.id).where(
            Attempt.activity_pk == row.activity_pk,
            Attempt.user_pk == row.user_pk,
            Attempt.final_score_sent.is_(True),
        ).limit(1)
    )
    return other is not None


def learner_key(registration_id: int, resource_link_pk: int, user_sub: str) -> tuple:
    """The key under which newer scores supersede older ones."""
    return (registration_id, resource_link_pk, user_sub)


def enqueue_score(
    db: Session,
    content: assessments.Content,
    row: Attempt,
    attempt: assessments.Attempt,
    result: assessments.AttemptResult,
) -> GradeOutbox | None:
    """Queue the AGS score for the attempt's current state, in the caller's transaction.

    Returns None when there is nothing to send: a draft, a non-final score once a final
    one was queued for this learner's line item, or an activity without a resource link.
    Older undelivered rows of the same (registration, resource link, learner) become
    ``superseded``; a final score marks ``row.final_score_sent``.
    """
    score = assessments.ags_score(attempt, result, content.framework)
    if not assessments.may_send(score, _final_already_queued(db, row)):
        return None
    assert score is not None  # may_send refuses None
    activity = db.get(Activity, row.activity_pk)
    if activity is None or activity.resource_link_pk is None:
        return None
    link = db.get(ResourceLink, activity.resource_link_pk)
    user = db.get(LtiUser, row.user_pk)
    if link is None or user is None:
        return None
    now = utcnow()
    db.execute(
        update(GradeOutbox)
        .where(
            GradeOutbox.registration_id == activity.registration_id,
            GradeOutbox.resource_link_pk == link.id,
            GradeOutbox.user_sub == user.sub,
            GradeOutbox.status.in_((PENDING, FAILED)),
        )
        .values(status=SUPERSEDED)
        .execution_options(synchronize_session="fetch")
    )
    payload: dict[str, Any] = {
        "score": score.to_ags(),
        # What to create when the platform gave no line item for the link.
        "lineitem": {
            "label": (activity.title or "Competency level")[:200],
            "scoreMaximum": attempt.settings.top_level,
            "resourceId": activity.public_id,
            "tag": LINEITEM_TAG,
        },
    }
    outbox = GradeOutbox(
        registration_id=activity.registration_id,
        attempt_pk=row.id,
        activity_pk=activity.id,
        resource_link_pk=link.id,
        user_pk=user.id,
        user_sub=user.sub,
        lineitem_url=link.lineitem_url,
        payload=payload,
        final=score.final,
        status=PENDING,
        tries=0,
        next_attempt_at=now,
        created_at=now,
    )
    db.add(outbox)
    if score.final:
        row.final_score_sent = True
    db.flush()
    return outbox


def _state_of(row: GradeOutbox) -> DeliveryState:
    if row.status == DELIVERED:
        return DeliveryState("delivered", None, row.id, row.delivered_at)
    if row.status == FAILED:
        return DeliveryState("failed", row.last_error, row.id, row.next_attempt_at,
                             row.last_error_code)
    if row.status == PENDING:
        detail = None
        if row.tries and row.last_error:
            detail = f"retrying after {row.tries} tries: {row.last_error}"
        return DeliveryState("pending", detail, row.id, row.created_at, row.last_error_code)
    return NO_DELIVERY


def delivery_states(db: Session, activity: Activity) -> dict[int, DeliveryState]:
    """Each learner's latest delivery state for the activity, keyed by learner user pk."""
    rows = db.scalars(
        select(GradeOutbox)
        .where(GradeOutbox.activity_pk == activity.id, GradeOutbox.status != SUPERSEDED)
        .order_by(GradeOutbox.id)
    )
    latest: dict[int, GradeOutbox] = {}
    for row in rows:
        latest[row.user_pk] = row
    return {user_pk: _state_of(row) for user_pk, row in latest.items()}


def latest_row(db: Session, row: GradeOutbox) -> GradeOutbox:
    """The newest row for the same learner and resource link as ``row``."""
    newest = db.scalar(
        select(GradeOutbox)
        .where(
            GradeOutbox.registration_id == row.registration_id,
            GradeOutbox.resource_link_pk == row.resource_link_pk,
            GradeOutbox.user_sub == row.user_sub,
        )
        .order_by(GradeOutbox.id.desc())
        .limit(1)
    )
    return newest or row


def requeue(row: GradeOutbox) -> GradeOutbox:
    """Make a row due now, from a clean slate (a person asked for it)."""
    now = utcnow()
    row.status = PENDING
    row.tries = 0
    row.next_attempt_at = now
    row.claimed_by = None
    row.claimed_until = None
    row.last_error_code = None
    row.last_error = None
    row.delivered_at = None
    return row


def send_again(db: Session, activity: Activity, user_pk: int) -> GradeOutbox | None:
    """Queue the learner's latest score again (after a failure, or to resend a delivered
    one). A pending row is made due now. None when nothing was ever queued."""
    row = db.scalar(
        select(GradeOutbox)
        .where(GradeOutbox.activity_pk == activity.id, GradeOutbox.user_pk == user_pk,
               GradeOutbox.status != SUPERSEDED)
        .order_by(GradeOutbox.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    if row.status == PENDING:
        row.next_attempt_at = utcnow()
        return row
    return requeue(row)


def retry_rows(db: Session, *, outbox_id: int | None = None, failed: bool = False
               ) -> list[GradeOutbox]:
    """Requeue one row by id, and/or every failed row (admins: ``lti-tool grades retry``).

    A row that a newer one superseded is refused: sending it would put an older score
    over a newer one.
    """
    chosen: list[GradeOutbox] = []
    if outbox_id is not None:
        row = db.get(GradeOutbox, outbox_id)
        if row is None:
            raise GradeServiceError("not_found", f"no grade outbox row {outbox_id}")
        newest = latest_row(db, row)
        if row.status == SUPERSEDED or newest.id != row.id:
            raise GradeServiceError(
                "superseded",
                f"row {outbox_id} is older than row {newest.id} for the same learner: "
                f"retry row {newest.id} instead",
            )
        chosen.append(row)
    if failed:
        chosen.extend(
            r for r in db.scalars(select(GradeOutbox).where(GradeOutbox.status == FAILED))
            if r not in chosen
        )
    for row in chosen:
        requeue(row)
    db.flush()
    return chosen
