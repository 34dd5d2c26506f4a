"""Registrations and deployments: what admins add, list, disable and remove."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Deployment, Registration

POLICIES = ("hold", "accept")

CANVAS_ENVIRONMENTS = {
    "production": ("https://canvas.instructure.com", "https://sso.canvaslms.com"),
    "beta": ("https://canvas.beta.instructure.com", "https://sso.beta.canvaslms.com"),
    "test": ("https://canvas.test.instructure.com", "https://sso.test.canvaslms.com"),
}


class PlatformError(Exception):
    """A registration change that cannot be made; the message says why in one line."""


@dataclass
class PlatformInput:
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    name: str = ""
    token_audience: str | None = None
    deployment_policy: str = "hold"
    deployment_ids: list[str] = field(default_factory=list)
    product_family: str | None = None


def _check_url(name: str, value: str, *, allow_http: bool = True) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise PlatformError(f"{name}: expected an http(s) URL, got {value!r}")
    return value.rstrip("/") if name == "issuer" else value


def moodle_preset(url: str, client_id: str) -> PlatformInput:
    """Moodle's endpoints from its site URL (the issuer is the site URL)."""
    site = _check_url("--url", url).rstrip("/")
    return PlatformInput(
        name="Moodle", issuer=site, client_id=client_id,
        auth_login_url=f"{site}/mod/lti/auth.php",
        auth_token_url=f"{site}/mod/lti/token.php",
        key_set_url=f"{site}/mod/lti/certs.php",
        deployment_policy="hold", product_family="moodle",
    )


def canvas_preset(client_id: str, environment: str = "production") -> PlatformInput:
    """Instructure-hosted Canvas: one issuer per environment; course installs add
    deployments, so new ones are accepted."""
    if environment not in CANVAS_ENVIRONMENTS:
        raise PlatformError(f"--environment: expected one of {', '.join(CANVAS_ENVIRONMENTS)}")
    issuer, sso = CANVAS_ENVIRONMENTS[environment]
    return PlatformInput(
        name=f"Canvas ({environment})" if environment != "production" else "Canvas",
        issuer=issuer, client_id=client_id,
        auth_login_url=f"{sso}/api/lti/authorize_redirect",
        auth_token_url=f"{sso}/login/oauth2/token",
        key_set_url=f"{sso}/api/lti/security/jwks",
        deployment_policy="accept", product_family="canvas",
    )


def validate(data: PlatformInput) -> PlatformInput:
    data.issuer = _check_url("issuer", data.issuer)
    for name in ("auth_login_url", "auth_token_url", "key_set_url"):
        _check_url(name.replace("_", "-"), getattr(data, name))
    if data.token_audience:
        data.token_audience = data.token_audience.strip()
    if not data.client_id or not data.client_id.strip():
        raise PlatformError("client-id: required")
    data.client_id = data.client_id.strip()
    if data.deployment_policy not in POLICIES:
        raise PlatformError("deployment-policy: expected hold or accept")
    data.name = (data.name or urlsplit(data.issuer).netloc)[:200]
    return data


def find_registration(db: Session, issuer: str, client_id: str | None) -> Registration:
    """The registration for ``issuer`` (and ``client_id`` when the issuer has several)."""
    rows = list(db.scalars(select(Registration).where(Registration.issuer == issuer.rstrip("/"))))
    if client_id:
        rows = [r for r in rows if r.client_id == client_id]
    if not rows:
        raise PlatformError(f"no registration for issuer {issuer}"
                            + (f" and client id {client_id}" if client_id else ""))
    if len(rows) > 1:
        raise PlatformError(f"issuer {issuer} has {len(rows)} registrations: give --client-id")
    return rows[0]


def add_platform(db: Session, data: PlatformInput) -> Registration:
    """Register a platform; refuses an (issuer, client id) that is already registered."""
    data = validate(data)
    existing = db.scalar(
        select(Registration).where(
            Registration.issuer == data.issuer, Registration.client_id == data.client_id
        )
    )
    if existing is not None:
        raise PlatformError(
            f"issuer {data.issuer} with client id {data.client_id} is already registered "
            f"(id {existing.id})"
        )
    return upsert_platform(db, data)


def upsert_platform(db: Session, data: PlatformInput) -> Registration:
    """Create or update the registration for (issuer, client id) and its deployments."""
    data = validate(data)
    registration = db.scalar(
        select(Registration).where(
            Registration.issuer == data.issuer, Registration.client_id == data.client_id
        )
    )
    if registration is None:
        registration = Registration(issuer=data.issuer, client_id=data.client_id,
                                    created_at=utcnow(), enabled=True)
        db.add(registration)
    registration.name = data.name
    registration.auth_login_url = data.auth_login_url
    registration.auth_token_url = data.auth_token_url
    registration.key_set_url = data.key_set_url
    registration.token_audience = data.token_audience or None
    registration.deployment_policy = data.deployment_policy
    registration.product_family = data.product_family
    db.flush()
    for deployment_id in data.deployment_ids:
        set_deployment(db, registration, deployment_id, active=True)
    return registration


def set_deployment(db: Session, registration: Registration, deployment_id: str, *,
                   active: bool) -> Deployment:
    """Add a deployment or change whether it is active."""
    deployment_id = (deployment_id or "").strip()
    if not deployment_id or len(deployment_id) > 255:
        raise PlatformError("deployment id: required, at most 255 characters")
    row = db.scalar(
        select(Deployment).where(
            Deployment.registration_id == registration.id,
            Deployment.deployment_id == deployment_id,
        )
    )
    now = utcnow()
    if row is None:
        row = Deployment(registration_id=registration.id, deployment_id=deployment_id,
                         active=active, first_seen_at=now, activated_at=now if active else None)
        db.add(row)
    elif row.active != active:
        row.active = active
        row.activated_at = now if active else row.activated_at
    db.flush()
    return row


def activation_command(registration: Registration, deployment_id: str) -> str:
    """The command an admin runs to activate a held deployment."""
    return (f"lti-tool deployment activate --issuer {registration.issuer} "
            f"--client-id {registration.client_id} {deployment_id}")
