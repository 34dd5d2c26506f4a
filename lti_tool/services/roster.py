"""The course roster as the platform's NRPS service last listed it.

Pages read from the database only. A page asks for a sync (``request_roster_sync``) and
the delivery loop does the HTTP part in the background (``lti_tool.grading.roster_sync``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import LtiContext, RosterMember, RosterSync

#: NRPS member statuses; a member the platform stopped listing is kept as "Deleted".
STATUS_ACTIVE = "Active"
STATUS_INACTIVE = "Inactive"
STATUS_DELETED = "Deleted"
#: A roster older than this is worth refreshing when an educator looks at it.
ROSTER_MAX_AGE = timedelta(minutes=10)
LEARNER_ROLE_SUFFIXES = ("#Learner", "/Learner")


@dataclass(frozen=True)
class RosterStatus:
    """When the roster was last synced, whether a sync is wanted, and the last error."""

    synced_at: datetime | None
    pending: bool
    error: str | None

    def is_stale(self, now: datetime | None = None, max_age: timedelta = ROSTER_MAX_AGE
                 ) -> bool:
        """Whether the roster is missing or older than ``max_age``."""
        return self.synced_at is None or (now or utcnow()) - self.synced_at > max_age


def _is_pending(sync: RosterSync) -> bool:
    return sync.requested_at is not None and (
        sync.synced_at is None or sync.requested_at > sync.synced_at
    )


def request_roster_sync(db: Session, context: LtiContext) -> None:
    """Ask the delivery loop to sync this context's roster (no HTTP here)."""
    now = utcnow()
    # Two educators opening the dashboard at once must not collide on the insert.
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.execute(insert(RosterSync).values(context_pk=context.id, requested_at=now)
               .on_conflict_do_nothing(index_elements=["context_pk"]))
    sync = db.get(RosterSync, context.id, populate_existing=True)
    if sync is not None and not _is_pending(sync):
        sync.requested_at = now
    db.flush()


def request_roster_sync_if_stale(db: Session, context: LtiContext,
                                 max_age: timedelta = ROSTER_MAX_AGE) -> RosterStatus:
    """Request a sync when the roster is missing or older than ``max_age``; returns the
    status after the request (what a dashboard shows as "roster as of ...")."""
    status = roster_status(db, context)
    if status.is_stale(max_age=max_age) and not status.pending:
        request_roster_sync(db, context)
        status = roster_status(db, context)
    return status


def roster_status(db: Session, context: LtiContext) -> RosterStatus:
    """The context's sync state."""
    sync = db.get(RosterSync, context.id)
    if sync is None:
        return RosterStatus(None, False, None)
    return RosterStatus(sync.synced_at, _is_pending(sync), sync.last_error)


def is_learner(member: RosterMember) -> bool:
    """Whether the member holds the context role Learner (full or short role name)."""
    return any(isinstance(r, str) and (r == "Learner" or r.endswith(LEARNER_ROLE_SUFFIXES))
               for r in member.roles or [])


def roster_page(
    db: Session,
    context: LtiContext,
    *,
    page: int,
    per_page: int,
    search: str | None = None,
    include_deleted: bool = False,
) -> tuple[list[RosterMember], int]:
    """One page (1-based) of the stored roster, ordered by name, and the total count.

    ``search`` matches name, email or user id (case-insensitive). Members the platform
    no longer lists are left out unless ``include_deleted``.
    """
    page = max(int(page), 1)
    per_page = min(max(int(per_page), 1), 500)
    conditions = [RosterMember.context_pk == context.id]
    if not include_deleted:
        conditions.append(RosterMember.status != STATUS_DELETED)
    if search and search.strip():
        needle = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        conditions.append(or_(
            func.lower(RosterMember.name).like(needle, escape="\\"),
            func.lower(RosterMember.email).like(needle, escape="\\"),
            func.lower(RosterMember.user_sub).like(needle, escape="\\"),
        ))
    total = db.scalar(select(func.count()).select_from(RosterMember).where(*conditions)) or 0
    rows = list(db.scalars(
        select(RosterMember)
        .where(*conditions)
        .order_by(RosterMember.name.is_(None), func.lower(RosterMember.name),
                  RosterMember.user_sub)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ))
    return rows, int(total)
