"""The NRPS roster sync, run by the delivery loop for contexts whose roster was requested.

A sync claims its context (``claimed_until``, SKIP LOCKED on PostgreSQL) in a short
transaction, reads every page of the roster without holding a transaction, then writes
the members in one transaction: upserted by user id, and those no longer listed marked
``Deleted``. ``synced_at`` is the time the sync started, so a request made during a sync
triggers another one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.lti.platform_client import PlatformAccount, PlatformClient, PlatformError
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import LtiContext, Registration, RosterMember, RosterSync
from lti_tool.runtime import Runtime
from lti_tool.services.roster import STATUS_ACTIVE, STATUS_DELETED

log = logging.getLogger("lti_tool.grading.roster")

ERROR_MAX_CHARS = 500
#: A long roster is many pages: its claim must outlast them all.
ROSTER_LEASE_SECONDS = 600.0


@dataclass(frozen=True)
class RosterJob:
    context_pk: int
    account: PlatformAccount
    memberships_url: str | None


def claim_roster_syncs(runtime: Runtime, limit: int, lease_seconds: float,
                       now: datetime | None = None) -> list[RosterJob]:
    """Lease up to ``limit`` contexts whose roster sync is wanted."""
    now = now or utcnow()
    query = (
        select(RosterSync)
        .where(
            RosterSync.requested_at.is_not(None),
            (RosterSync.synced_at.is_(None)) | (RosterSync.requested_at > RosterSync.synced_at),
            (RosterSync.claimed_until.is_(None)) | (RosterSync.claimed_until <= now),
        )
        .order_by(RosterSync.requested_at)
        .limit(limit)
    )
    if runtime.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    jobs = []
    with runtime.session() as db:
        for sync in db.scalars(query).all():
            sync.claimed_until = now + timedelta(seconds=lease_seconds)
            context = db.get(LtiContext, sync.context_pk)
            registration = db.get(Registration, context.registration_id) if context else None
            if context is None or registration is None:
                continue
            jobs.append(RosterJob(context.id, PlatformAccount.of(registration),
                                  context.memberships_url))
    return jobs


def _member_name(member: dict[str, Any]) -> str | None:
    name = member.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:255]
    parts = [member.get(k) for k in ("given_name", "family_name")]
    full = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return full[:255] or None


def store_members(runtime: Runtime, context_pk: int, members: list[dict[str, Any]],
                  started: datetime) -> tuple[int, int]:
    """Upsert the listed members; mark the others Deleted. Returns (listed, removed)."""
    removed = 0
    with runtime.session() as db:
        existing = {
            m.user_sub: m for m in db.scalars(
                select(RosterMember).where(RosterMember.context_pk == context_pk))
        }
        listed: set[str] = set()
        for member in members:
            sub = member["user_id"][:255]
            if sub in listed:
                continue
            listed.add(sub)
            email = member.get("email")
            roles = [r for r in member.get("roles") or [] if isinstance(r, str)]
            status = member.get("status") if isinstance(member.get("status"), str) else None
            row = existing.get(sub)
            if row is None:
                row = RosterMember(context_pk=context_pk, user_sub=sub)
                db.add(row)
            row.name = _member_name(member)
            row.email = email[:320] if isinstance(email, str) and email else None
            row.roles = roles
            row.status = (status or STATUS_ACTIVE)[:20]
            row.synced_at = started
        for sub, row in existing.items():
            if sub not in listed and row.status != STATUS_DELETED:
                row.status = STATUS_DELETED
                row.synced_at = started
                removed += 1
        sync = db.get(RosterSync, context_pk)
        if sync is not None:
            sync.synced_at = started
            sync.claimed_until = None
            sync.last_error = None
    return len(listed), removed


def _record_error(runtime: Runtime, context_pk: int, message: str, *, retry_in: float | None
                  ) -> None:
    with runtime.session() as db:
        sync = db.get(RosterSync, context_pk)
        if sync is None:
            return
        sync.last_error = message[:ERROR_MAX_CHARS]
        if retry_in is None:
            # Retrying will not help: drop the request; a later page view asks again.
            sync.requested_at = None
            sync.claimed_until = None
        else:
            sync.claimed_until = utcnow() + timedelta(seconds=retry_in)


def sync_roster(runtime: Runtime, job: RosterJob, policy: DeliveryPolicy) -> bool:
    """Read the whole roster and store it; records the error and returns False on failure."""
    started_clock = time.monotonic()
    started = utcnow()
    if not job.memberships_url:
        _record_error(runtime, job.context_pk,
                      "the platform offers no roster service (NRPS) for this course",
                      retry_in=None)
        return False
    client = PlatformClient(runtime, job.account)
    try:
        members = client.get_members(job.memberships_url)
    except PlatformError as exc:
        retry_in = (exc.retry_after if exc.retry_after is not None
                    else policy.roster_retry_seconds) if exc.retryable else None
        _record_error(runtime, job.context_pk, f"{exc.code}: {exc.reason}", retry_in=retry_in)
        log.warning("roster sync failed", extra={
            "context_pk": job.context_pk, "registration_id": job.account.registration_id,
            "error_code": exc.code, "http_status": exc.status, "retryable": exc.retryable})
        return False
    listed, removed = store_members(runtime, job.context_pk, members, started)
    log.info("roster synced", extra={
        "context_pk": job.context_pk, "registration_id": job.account.registration_id,
        "members": listed, "removed": removed,
        "duration_ms": round((time.monotonic() - started_clock) * 1000, 1)})
    return True


def sync_requested_rosters(runtime: Runtime, policy: DeliveryPolicy, limit: int = 3) -> int:
    """Sync up to ``limit`` requested rosters; returns how many succeeded."""
    done = 0
    lease = max(policy.lease_seconds, ROSTER_LEASE_SECONDS)
    for job in claim_roster_syncs(runtime, limit, lease):
        if sync_roster(runtime, job, policy):
            done += 1
    return done
