"""Delivering grade outbox rows: claim as leases, send, record the outcome.

1. **Claim** (one short transaction): due pending rows whose learner has no row in
   flight elsewhere, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so workers never wait for
   each other; ``claimed_by``/``claimed_until`` are committed before any HTTP call, so no
   row lock is held across a call. SQLite runs the same statements without SKIP LOCKED
   (one delivery thread there). An expired lease is claimable again: a worker killed
   mid-delivery loses nothing.
2. **Send** (no transaction): the line item (the launch's, else found or created by
   resource link id and tag), then the score with a whole-second timestamp at least one
   second after the previous one sent for this learner (Moodle's 409 rule).
3. **Record** (one short transaction): only if the row is still leased to us.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.orm import Session, aliased

from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.lti.platform_client import (
    GRADING_SCOPES,
    ConflictError,
    PermanentError,
    PlatformAccount,
    PlatformClient,
    PlatformError,
)
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import GradeOutbox, Registration, ResourceLink
from lti_tool.runtime import Runtime
from lti_tool.services.grades import DELIVERED, FAILED, PENDING, SUPERSEDED

log = logging.getLogger("lti_tool.grading")

#: Stop starting new sends in a batch when less than this share of the lease is left.
LEASE_SAFETY_SHARE = 0.25


@dataclass(frozen=True)
class Job:
    """A claimed row and everything needed to send it, detached from the session."""

    outbox_id: int
    account: PlatformAccount
    registration_enabled: bool
    resource_link_pk: int
    resource_link_id: str
    lineitem_url: str | None
    lineitems_url: str | None
    scopes: tuple[str, ...]
    user_sub: str
    payload: dict[str, Any]
    tries: int
    #: The latest timestamp sent for this learner and link (any try), if any.
    previous_timestamp: datetime | None


@dataclass
class Outcome:
    """What one try came to."""

    kind: str  # delivered | retry | failed | superseded
    http_status: int | None = None
    code: str | None = None
    reason: str | None = None
    retry_after: float | None = None
    #: Whether the try counts towards ``tries`` (a busy line item lock does not).
    counts_as_try: bool = True
    sent_timestamp: datetime | None = None
    lineitem_url: str | None = None
    #: The line item URL proved dead (404): forget it so "send again" finds another.
    lineitem_gone: bool = False


@dataclass
class DeliveryCounts:
    """What a ``deliver_due`` pass did."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    superseded: int = 0
    lost_lease: int = 0
    released: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)

    def tally(self, ended_as: str) -> None:
        """Count one recorded try by the status its row ended in."""
        self.by_outcome[ended_as] = self.by_outcome.get(ended_as, 0) + 1
        name = {DELIVERED: "delivered", "retrying": "retrying", FAILED: "failed",
                SUPERSEDED: "superseded"}.get(ended_as, "lost_lease")
        setattr(self, name, getattr(self, name) + 1)

    def add(self, other: DeliveryCounts) -> None:
        for name in ("claimed", "delivered", "retrying", "failed", "superseded",
                     "lost_lease", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@contextlib.contextmanager
def bookkeeping(runtime: Runtime) -> Iterator[Session]:
    """A short transaction for leases and outcomes.

    On PostgreSQL it commits without waiting for the WAL flush: if the database crashed
    just after, the lease or outcome would be forgotten and the row sent again, which is
    harmless (the same score with a later timestamp). The score itself was written by
    the learner's transaction with full durability.
    """
    with runtime.session() as db:
        if runtime.engine.dialect.name == "postgresql":
            db.execute(text("SET LOCAL synchronous_commit TO OFF"))
        yield db


# -- claim -----------------------------------------------------------------------------------


def _scopes_for(link_scopes: list[Any] | None) -> tuple[str, ...]:
    """The scopes to ask for: ours, narrowed to what the launch said was granted when it
    named any of them (asking for a scope not granted fails the whole token request)."""
    granted = {s for s in (link_scopes or []) if isinstance(s, str)}
    wanted = set(GRADING_SCOPES)
    if granted & wanted:
        narrowed = granted & wanted
        # lineitem.readonly is enough to find (not create) a line item.
        readonly = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
        if readonly in granted and not narrowed & {GRADING_SCOPES[0]}:
            narrowed.add(readonly)
        return tuple(sorted(narrowed))
    return tuple(sorted(wanted))


def claim_due(runtime: Runtime, worker_id: str, limit: int, policy: DeliveryPolicy,
              now: datetime | None = None) -> list[Job]:
    """Lease up to ``limit`` due rows to ``worker_id`` and return them as jobs."""
    now = now or utcnow()
    other = aliased(GradeOutbox)
    in_flight = exists().where(
        other.registration_id == GradeOutbox.registration_id,
        other.resource_link_pk == GradeOutbox.resource_link_pk,
        other.user_sub == GradeOutbox.user_sub,
        other.id != GradeOutbox.id,
        other.claimed_until > now,
    )
    query = (
        select(GradeOutbox.id)
        .where(
            GradeOutbox.status == PENDING,
            GradeOutbox.next_attempt_at <= now,
            (GradeOutbox.claimed_until.is_(None)) | (GradeOutbox.claimed_until <= now),
            ~in_flight,
        )
        .order_by(GradeOutbox.next_attempt_at, GradeOutbox.id)
        .limit(limit)
    )
    postgres = runtime.engine.dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update(skip_locked=True, of=GradeOutbox)
    lease_end = now + timedelta(seconds=policy.lease_seconds)
    with bookkeeping(runtime) as db:
        ids = list(db.scalars(query))
        if not ids:
            return []
        db.execute(
            update(GradeOutbox)
            .where(GradeOutbox.id.in_(ids))
            .values(claimed_by=worker_id[:100], claimed_until=lease_end)
            .execution_options(synchronize_session=False)
        )
        rows = db.execute(
            select(GradeOutbox, ResourceLink, Registration)
            .join(ResourceLink, ResourceLink.id == GradeOutbox.resource_link_pk)
            .join(Registration, Registration.id == GradeOutbox.registration_id)
            .where(GradeOutbox.id.in_(ids))
            .order_by(GradeOutbox.next_attempt_at, GradeOutbox.id)
        ).all()
        # One grouped query for the learners in this batch: the newest pending row (an
        # older one is superseded without a send) and the latest timestamp sent.
        subs = {row.user_sub for row, _, _ in rows}
        links = {row.resource_link_pk for row, _, _ in rows}
        summary = db.execute(
            select(
                GradeOutbox.registration_id, GradeOutbox.resource_link_pk,
                GradeOutbox.user_sub, func.max(GradeOutbox.sent_timestamp),
                func.max(GradeOutbox.id).filter(GradeOutbox.status == PENDING),
            )
            .where(GradeOutbox.user_sub.in_(subs), GradeOutbox.resource_link_pk.in_(links))
            .group_by(GradeOutbox.registration_id, GradeOutbox.resource_link_pk,
                      GradeOutbox.user_sub)
        ).all()
        by_key = {(r[0], r[1], r[2]): (r[3], r[4]) for r in summary}
        jobs: list[Job] = []
        for row, link, registration in rows:
            previous, newest_pending = by_key.get(
                (row.registration_id, row.resource_link_pk, row.user_sub), (None, None))
            if newest_pending is not None and newest_pending > row.id:
                # Two rows were queued at once for one learner: keep only the newer.
                row.status = SUPERSEDED
                row.claimed_by = row.claimed_until = None
                continue
            jobs.append(Job(
                outbox_id=row.id,
                account=PlatformAccount.of(registration),
                registration_enabled=registration.enabled,
                resource_link_pk=link.id,
                resource_link_id=link.resource_link_id,
                lineitem_url=row.lineitem_url or link.lineitem_url,
                lineitems_url=link.lineitems_url,
                scopes=_scopes_for(link.ags_scopes),
                user_sub=row.user_sub,
                payload=dict(row.payload),
                tries=row.tries,
                previous_timestamp=previous,
            ))
    return jobs


def release(runtime: Runtime, worker_id: str, outbox_ids: list[int]) -> int:
    """Give back leased rows that this worker will not send after all."""
    if not outbox_ids:
        return 0
    with bookkeeping(runtime) as db:
        result = db.execute(
            update(GradeOutbox)
            .where(GradeOutbox.id.in_(outbox_ids), GradeOutbox.claimed_by == worker_id[:100])
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


# -- send ------------------------------------------------------------------------------------


def score_timestamp(previous: datetime | None, now: datetime | None = None) -> datetime:
    """The send time in whole seconds, at least one second after ``previous``."""
    now = now or utcnow()
    stamp = now.replace(microsecond=0)
    if previous is not None:
        floor_previous = datetime.fromtimestamp(math.floor(previous.timestamp()), UTC)
        stamp = max(stamp, floor_previous + timedelta(seconds=1))
    return stamp


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def result_matches(result: dict[str, Any], score: dict[str, Any]) -> bool:
    """Whether a platform result shows the score we sent (same grade and comment).

    Platforms may rescale ``resultScore`` to their line item's maximum, so grades are
    compared as fractions."""
    given = score.get("scoreGiven")
    got = result.get("resultScore")
    if given is None:
        if got is not None:
            return False
    else:
        if not isinstance(got, int | float) or isinstance(got, bool):
            return False
        sent_max = score.get("scoreMaximum") or 1
        got_max = result.get("resultMaximum") or sent_max
        if not math.isclose(given / sent_max, got / got_max, abs_tol=1e-6):
            return False
    comment = result.get("comment")
    if comment is not None and score.get("comment") is not None:
        return comment == score["comment"]
    return True


def _resolve_lineitem(runtime: Runtime, client: PlatformClient, job: Job,
                      policy: DeliveryPolicy) -> str | Outcome:
    """The line item URL for the job, found or created; or an Outcome when not now."""
    if job.lineitem_url:
        return job.lineitem_url
    if not job.lineitems_url:
        return Outcome("failed", code="no_lineitem_service",
                       reason="the platform gave no line item service for this link; "
                              "launch the activity from the LMS again")
    # Two workers creating a line item for one link at once would make two columns.
    lock_key = f"grading:lineitem-lock:{job.account.registration_id}:{job.resource_link_pk}"
    if not runtime.store.add(lock_key, str(job.outbox_id), int(policy.lease_seconds)):
        return Outcome("retry", code="lineitem_busy",
                       reason="another worker is creating this link's line item",
                       retry_after=1.0, counts_as_try=False)
    try:
        spec = job.payload.get("lineitem") or {}
        tag = spec.get("tag") or None
        found = client.find_lineitem(job.lineitems_url, resource_link_id=job.resource_link_id,
                                     tag=tag, scopes=job.scopes)
        if found is None:
            body = {
                "label": spec.get("label") or "Competency level",
                "scoreMaximum": spec.get("scoreMaximum") or 1,
                "resourceLinkId": job.resource_link_id,
            }
            if spec.get("resourceId"):
                body["resourceId"] = spec["resourceId"]
            if tag:
                body["tag"] = tag
            found = client.create_lineitem(job.lineitems_url, body, scopes=job.scopes)
        return found["id"]
    finally:
        runtime.store.delete(lock_key)


def _after_conflict(client: PlatformClient, job: Job, lineitem_url: str,
                    body: dict[str, Any], stamp: datetime) -> Outcome:
    """A 409: delivered already if the platform holds what we sent, else try later with
    a timestamp after the one it holds."""
    try:
        results = client.get_results(lineitem_url, user_id=job.user_sub, scopes=job.scopes)
    except PlatformError as exc:
        return Outcome("retry", http_status=409, code="conflict",
                       reason=f"409, and the results could not be checked: {exc.reason}",
                       sent_timestamp=stamp, lineitem_url=lineitem_url)
    held = results[-1] if results else None
    if held is not None and result_matches(held, body):
        return Outcome("delivered", http_status=409, code="already_delivered",
                       sent_timestamp=_parse_time(held.get("timestamp")) or stamp,
                       lineitem_url=lineitem_url)
    platform_time = _parse_time(held.get("timestamp")) if held else None
    later = max(t for t in (stamp, platform_time) if t is not None)
    return Outcome("retry", http_status=409, code="conflict",
                   reason="the platform holds a score with the same or a later timestamp",
                   retry_after=0.0, sent_timestamp=later, lineitem_url=lineitem_url)


def send(runtime: Runtime, client: PlatformClient, job: Job, policy: DeliveryPolicy) -> Outcome:
    """One try at delivering ``job``; never raises for platform trouble."""
    if not job.registration_enabled:
        return Outcome("retry", code="registration_disabled",
                       reason="the platform registration is disabled")
    lineitem_url: str | None = None
    stamp: datetime | None = None
    try:
        resolved = _resolve_lineitem(runtime, client, job, policy)
        if isinstance(resolved, Outcome):
            return resolved
        lineitem_url = resolved
        stamp = score_timestamp(job.previous_timestamp)
        body = {
            "userId": job.user_sub,
            "timestamp": stamp.isoformat(timespec="seconds"),
            **(job.payload.get("score") or {}),
        }
        try:
            status = client.post_score(lineitem_url, body, scopes=job.scopes)
        except ConflictError:
            return _after_conflict(client, job, lineitem_url, body, stamp)
        return Outcome("delivered", http_status=status, sent_timestamp=stamp,
                       lineitem_url=lineitem_url)
    except PlatformError as exc:
        kind = "retry" if exc.retryable else "failed"
        gone = isinstance(exc, PermanentError) and exc.code == "lineitem_not_found"
        return Outcome(kind, http_status=exc.status, code=exc.code, reason=exc.reason,
                       retry_after=exc.retry_after, sent_timestamp=stamp,
                       lineitem_url=None if gone else lineitem_url, lineitem_gone=gone)
    except Exception as exc:
        # A fault of ours (no tool key, store unreachable): back off like any failure so
        # the row neither wedges its lease nor spins; after max_tries it shows as failed.
        log.error("grade delivery error: %s", type(exc).__name__,
                  extra={"outbox_id": job.outbox_id})
        return Outcome("retry", code="internal_error",
                       reason=f"the tool failed while sending ({type(exc).__name__})",
                       sent_timestamp=stamp, lineitem_url=lineitem_url)


# -- record ----------------------------------------------------------------------------------


def record(runtime: Runtime, worker_id: str, job: Job, outcome: Outcome,
           policy: DeliveryPolicy) -> str:
    """Write the outcome if the row is still leased to ``worker_id``; returns the status
    the row ends in, or ``"lost_lease"``."""
    now = utcnow()
    with bookkeeping(runtime) as db:
        query = select(GradeOutbox).where(GradeOutbox.id == job.outbox_id)
        if runtime.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        row = db.scalar(query)
        if row is None or row.claimed_by != worker_id[:100]:
            return "lost_lease"
        row.claimed_by = None
        row.claimed_until = None
        if outcome.sent_timestamp is not None and (
            row.sent_timestamp is None or outcome.sent_timestamp > row.sent_timestamp
        ):
            row.sent_timestamp = outcome.sent_timestamp
        if outcome.lineitem_url and outcome.lineitem_url != row.lineitem_url:
            row.lineitem_url = outcome.lineitem_url
            db.execute(
                update(ResourceLink)
                .where(ResourceLink.id == job.resource_link_pk,
                       ResourceLink.lineitem_url.is_(None))
                .values(lineitem_url=outcome.lineitem_url)
                .execution_options(synchronize_session=False)
            )
        if outcome.lineitem_gone and row.lineitem_url:
            dead = row.lineitem_url
            row.lineitem_url = None
            db.execute(
                update(ResourceLink)
                .where(ResourceLink.id == job.resource_link_pk, ResourceLink.lineitem_url == dead)
                .values(lineitem_url=None)
                .execution_options(synchronize_session=False)
            )
        if outcome.counts_as_try:
            row.tries += 1
        if outcome.kind == "delivered":
            row.status = DELIVERED
            row.delivered_at = now
            row.last_error_code = None
            row.last_error = None
            return DELIVERED
        row.last_error_code = outcome.code
        row.last_error = outcome.reason
        if row.status == SUPERSEDED:
            return SUPERSEDED  # a newer score was queued meanwhile: nothing to retry
        if outcome.kind == "retry" and row.tries < policy.max_tries:
            delay = (outcome.retry_after if outcome.retry_after is not None
                     else policy.backoff(row.tries))
            row.next_attempt_at = now + timedelta(seconds=max(delay, 0.0))
            return "retrying"
        if outcome.kind == "retry":
            row.last_error_code = "retries_exhausted"
            row.last_error = f"gave up after {row.tries} tries: {outcome.reason}"
        row.status = FAILED
        row.next_attempt_at = now
        return FAILED


def log_try(job: Job, outcome: Outcome, ended_as: str, duration: float, worker_id: str
            ) -> None:
    """One structured line per try: ids, outcome, status, duration. Never a token, name
    or email (the learner appears only through the outbox id)."""
    level = logging.INFO if outcome.kind in ("delivered", "retry") else logging.WARNING
    log.log(
        level, "grade delivery %s", ended_as,
        extra={
            "outbox_id": job.outbox_id,
            "registration_id": job.account.registration_id,
            "outcome": ended_as,
            "http_status": outcome.http_status,
            "error_code": outcome.code,
            "duration_ms": round(duration * 1000, 1),
            "try": job.tries + (1 if outcome.counts_as_try else 0),
            "worker": worker_id,
        },
    )


def deliver_jobs(runtime: Runtime, worker_id: str, jobs: list[Job], policy: DeliveryPolicy,
                 lease_started: float) -> DeliveryCounts:
    """Send claimed jobs (``policy.concurrency`` at a time) and record each outcome in
    its own transaction; release the jobs the lease can no longer cover.

    A batch holds at most one job per learner and link (the claim makes sure), so
    sending them side by side never reorders one learner's scores.
    """
    counts = DeliveryCounts(claimed=len(jobs))
    clients: dict[int, PlatformClient] = {}
    guard = threading.Lock()
    lease_left_floor = policy.lease_seconds * LEASE_SAFETY_SHARE
    unsent: list[int] = []

    def client_for(job: Job) -> PlatformClient:
        with guard:
            client = clients.get(job.account.registration_id)
            if client is None:
                client = PlatformClient(runtime, job.account)
                clients[job.account.registration_id] = client
            return client

    def one(job: Job) -> None:
        if time.monotonic() - lease_started > policy.lease_seconds - lease_left_floor:
            with guard:
                unsent.append(job.outbox_id)
            return
        started = time.monotonic()
        outcome = send(runtime, client_for(job), job, policy)
        ended_as = record(runtime, worker_id, job, outcome, policy)
        log_try(job, outcome, ended_as, time.monotonic() - started, worker_id)
        with guard:
            counts.tally(ended_as)

    workers = max(1, min(policy.concurrency, len(jobs)))
    if runtime.engine.dialect.name != "postgresql":
        workers = 1  # SQLite serialises writers: sending side by side buys nothing there
    if workers == 1:
        for job in jobs:
            one(job)
    else:
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="grade-delivery") as pool:
            for future in [pool.submit(one, job) for job in jobs]:
                future.result()
    if unsent:
        counts.released += release(runtime, worker_id, unsent)
    return counts


__all__ = [
    "DeliveryCounts",
    "Job",
    "Outcome",
    "claim_due",
    "deliver_jobs",
    "record",
    "release",
    "result_matches",
    "score_timestamp",
    "send",
]
