"""The admin page: registrations, deployments (held first), keys with their age, grade
delivery health. Opened with a token that ``lti-tool admin-token`` issues (an HMAC of its
expiry with the tool's secret), never through an LMS role: an LMS administrator is not
necessarily the tool's administrator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, render_template, request
from sqlalchemy import func, select

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Deployment, GradeOutbox, Registration
from lti_tool.runtime import current_runtime
from lti_tool.services.grades import delivery_running, describe_age
from lti_tool.services.platforms import activation_command
from lti_tool.services.registrations import open_invites
from lti_tool.web import abort_with, db

log = logging.getLogger("lti_tool.admin")

bp = Blueprint("admin", __name__)

TOKEN_VERSION = "a1"
MAX_TOKEN_HOURS = 168
DEFAULT_TOKEN_HOURS = 8
# Tool keys older than this are due for rotation (docs/deploy.md rotates monthly).
KEY_ROTATION_DAYS = 35
# A pending score older than this means no worker is delivering.
STALE_PENDING = timedelta(hours=1)
ADMIN_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class AdminTokenError(Exception):
    """The admin token is missing, malformed, forged or expired."""


def _signature(secret: str, payload: str) -> str:
    key = hmac.new(secret.encode(), b"lti-tool admin token", hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_admin_token(secret: str, *, hours: float = DEFAULT_TOKEN_HOURS,
                      now: float | None = None) -> str:
    """A token that opens the admin page for ``hours`` (signed with the tool's secret)."""
    if not 0 < hours <= MAX_TOKEN_HOURS:
        raise ValueError(f"an admin token lasts more than 0 and at most {MAX_TOKEN_HOURS} "
                         "hours")
    expires = int((now if now is not None else time.time()) + hours * 3600)
    payload = f"{TOKEN_VERSION}.{expires}.{secrets.token_urlsafe(9)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_admin_token(secret: str, token: str | None, *, now: float | None = None
                       ) -> datetime:
    """The token's expiry when it is genuine and live; raises ``AdminTokenError``."""
    if not token:
        raise AdminTokenError("This page needs the admin token: run 'lti-tool admin-token' "
                              "and open the address it prints.")
    parts = token.split(".")
    if len(token) > 200 or len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise AdminTokenError("This admin token is not valid.")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), _signature(secret, payload).encode()):
        raise AdminTokenError("This admin token is not valid.")
    try:
        expires = int(parts[1])
    except ValueError:
        raise AdminTokenError("This admin token is not valid.") from None
    if expires <= (now if now is not None else time.time()):
        raise AdminTokenError("This admin token has expired: run 'lti-tool admin-token' for "
                              "a new one.")
    return datetime.fromtimestamp(expires, UTC)


def admin_url(base_url: str, token: str) -> str:
    """The address that opens the admin page."""
    return f"{base_url.rstrip('/')}/admin?token={token}"


@dataclass(frozen=True)
class DeliveryHealth:
    """Grade delivery at a glance, from the outbox."""

    counts: dict[str, int]
    oldest_pending: timedelta | None
    failed: int

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)

    @property
    def stale(self) -> bool:
        return self.oldest_pending is not None and self.oldest_pending > STALE_PENDING


def delivery_health(session, now: datetime) -> DeliveryHealth:
    """Counts by status, the oldest pending score's age and the failures needing a person."""
    counts = {status: count for status, count in session.execute(
        select(GradeOutbox.status, func.count()).group_by(GradeOutbox.status)
    )}
    oldest = session.scalar(
        select(func.min(GradeOutbox.created_at)).where(GradeOutbox.status == "pending")
    )
    if oldest is not None and oldest.tzinfo is None:  # aggregates skip the UTC column type
        oldest = oldest.replace(tzinfo=UTC)
    return DeliveryHealth(counts=counts, oldest_pending=(now - oldest) if oldest else None,
                          failed=counts.get("failed", 0))


@bp.get("/admin")
def admin_page():
    """Registrations, deployments, keys and grade delivery health for the tool's admin."""
    runtime = current_runtime()
    try:
        expires = verify_admin_token(runtime.settings.secret_key, request.args.get("token"))
    except AdminTokenError as exc:
        log.warning("admin page refused", extra={"code": "admin_token_invalid"})
        abort_with(401, "admin_token_invalid", str(exc))
    log.info("admin page opened")
    now = utcnow()
    session = db()
    registrations = list(session.scalars(select(Registration).order_by(Registration.id)))
    deployments = session.execute(
        select(Deployment, Registration).join(Registration)
        .order_by(Deployment.active, Deployment.first_seen_at.desc())
    ).all()
    keys = runtime.keyring.list_keys(session)
    signing = next((k for k in keys if k.signing), None)
    page = render_template(
        "admin/index.html",
        now=now, expires=expires, registrations=registrations,
        deployments=[{"row": d, "registration": r,
                      "command": None if d.active else activation_command(r, d.deployment_id)}
                     for d, r in deployments],
        keys=[{"info": k, "age_days": (now - k.created_at).days} for k in keys],
        signing_age_days=(now - signing.created_at).days if signing else None,
        rotation_days=KEY_ROTATION_DAYS,
        health=delivery_health(session, now), age=describe_age,
        worker_running=delivery_running(runtime.store),
        open_invites=open_invites(session, now=now),
    )
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    # The token travels in the address: keep it out of any Referer header.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
