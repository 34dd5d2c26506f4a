"""Record what a verified launch established: user, course, link and a launch session.

Called by the launch view after every check passed. Writes rows in the caller's session
and never commits (one commit point per request). Everything is keyed by the
registration (issuer + client id), never by the issuer alone.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lti_tool.lti.claims import LaunchClaims
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import (
    LaunchSession,
    LtiContext,
    LtiUser,
    Registration,
    ResourceLink,
)

DEFAULT_LAUNCH_SESSION_SECONDS = 8 * 3600


def _clip(value: str | None, length: int) -> str | None:
    """Fit free text from the platform into its column (names and titles may be long)."""
    if value is None:
        return None
    value = value.strip()
    return value[:length] or None


def _get_or_create(session: Session, model: type, keys: dict[str, Any],
                   defaults: dict[str, Any]) -> Any:
    """The row of ``model`` with ``keys``, inserted first when absent.

    INSERT ... ON CONFLICT DO NOTHING, then SELECT: two first launches of the same user at
    once both end up with the one row instead of a unique-constraint error.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(model).values(**keys, **defaults).on_conflict_do_nothing(
            index_elements=list(keys))
    )
    statement = select(model).filter_by(**keys).execution_options(populate_existing=True)
    return session.scalars(statement).one()


def upsert_user(session: Session, registration: Registration, claims: LaunchClaims,
                now: datetime) -> LtiUser:
    """The launch's user, with the personal data this launch carries.

    The platform decides what it shares: a claim it no longer sends is forgotten here too
    (names only, email only, or nothing at all are all valid launches).
    """
    user = _get_or_create(session, LtiUser,
                          {"registration_id": registration.id, "sub": claims.subject},
                          {"updated_at": now})
    user.name = _clip(claims.name, 255)
    user.given_name = _clip(claims.given_name, 255)
    user.family_name = _clip(claims.family_name, 255)
    user.email = _clip(claims.email, 320)
    user.updated_at = now
    return user


def upsert_context(session: Session, registration: Registration, claims: LaunchClaims,
                   now: datetime) -> LtiContext | None:
    """The launch's course, or None when the launch carries no context claim."""
    if claims.context is None:
        return None
    context = _get_or_create(
        session, LtiContext,
        {"registration_id": registration.id, "context_id": claims.context.id},
        {"updated_at": now, "deployment_id": claims.deployment_id},
    )
    if claims.context.title:
        context.title = _clip(claims.context.title, 500)
    if claims.context.label:
        context.label = _clip(claims.context.label, 255)
    context.deployment_id = claims.deployment_id
    if claims.nrps is not None:
        context.memberships_url = claims.nrps.context_memberships_url[:1000]
    context.updated_at = now
    return context


def upsert_resource_link(session: Session, context: LtiContext | None, claims: LaunchClaims,
                         now: datetime) -> ResourceLink | None:
    """The launched link within its course (None without a course or a resource link).

    Line item URLs and scopes follow the AGS claim when the launch carries one; a launch
    without it leaves them as the last launch set them (a grade may still be on its way).
    """
    if context is None or claims.resource_link is None:
        return None
    link = _get_or_create(
        session, ResourceLink,
        {"context_pk": context.id, "resource_link_id": claims.resource_link.id},
        {"updated_at": now, "ags_scopes": []},
    )
    if claims.resource_link.title:
        link.title = _clip(claims.resource_link.title, 500)
    if claims.ags is not None:
        link.lineitem_url = claims.ags.lineitem[:1000] if claims.ags.lineitem else None
        link.lineitems_url = claims.ags.lineitems[:1000] if claims.ags.lineitems else None
        link.ags_scopes = list(claims.ags.scope)
    link.updated_at = now
    return link


def record_launch(session: Session, registration: Registration, claims: LaunchClaims, *,
                  lifetime_seconds: int = DEFAULT_LAUNCH_SESSION_SECONDS,
                  now: datetime | None = None) -> LaunchSession:
    """Upsert the user, course and link of a verified launch; open a launch session.

    The session id (256 random bits) is what later pages carry in ``ls``. The session
    keeps the roles, message type, deployment and ``claims.session_claims()``.
    """
    now = now or utcnow()
    user = upsert_user(session, registration, claims, now)
    context = upsert_context(session, registration, claims, now)
    link = upsert_resource_link(session, context, claims, now)
    family = claims.tool_platform.get("product_family_code")
    if family and not registration.product_family:
        registration.product_family = str(family)[:50]
    launch_session = LaunchSession(
        id=secrets.token_urlsafe(32),
        registration_id=registration.id,
        deployment_id=claims.deployment_id,
        user_pk=user.id,
        context_pk=context.id if context else None,
        resource_link_pk=link.id if link else None,
        message_type=claims.message_type,
        roles=list(claims.roles),
        claims=claims.session_claims(),
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime_seconds),
    )
    session.add(launch_session)
    session.flush()
    return launch_session


def prune_expired_sessions(session: Session, now: datetime | None = None) -> int:
    """Delete launch sessions that have expired; returns how many went."""
    result = session.execute(
        delete(LaunchSession).where(LaunchSession.expires_at <= (now or utcnow()))
    )
    return result.rowcount or 0
