"""Dynamic registration use cases: single-use invites, the platform's configuration, and
storing what the platform answered. No HTTP here: ``lti_tool/lti/registration.py`` talks to
the platform and hands the parsed answers to these functions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Registration, RegistrationInvite
from lti_tool.services.platforms import PlatformError, PlatformInput, upsert_platform

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"

#: An invite lives at most a week: long enough to reach the LMS admin, short enough that a
#: forgotten one stops working on its own.
MAX_INVITE_HOURS = 168
DEFAULT_INVITE_HOURS = 24

# Product families whose new deployments are accepted without an admin (Canvas adds one per
# course install and course copy); every other platform's unknown deployments are held.
ACCEPT_DEPLOYMENTS = {"canvas"}
PRODUCT_NAMES = {"moodle": "Moodle", "canvas": "Canvas", "d2l": "Brightspace",
                 "blackboard": "Blackboard", "sakai": "Sakai"}


class InviteError(Exception):
    """The registration URL's invite is missing, unknown, used or expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class RegistrationError(Exception):
    """A registration step that failed; ``code`` is stable, ``message`` is plain words."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# -- invites ---------------------------------------------------------------------------


def hash_invite(token: str) -> str:
    """The stored form of an invite token (the token itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(db: Session, *, hours: float = DEFAULT_INVITE_HOURS,
                  now: datetime | None = None) -> tuple[str, RegistrationInvite]:
    """A new single-use invite valid for ``hours``; returns the token (shown once) and row."""
    if not 0 < hours <= MAX_INVITE_HOURS:
        raise ValueError(f"an invite lasts more than 0 and at most {MAX_INVITE_HOURS} hours")
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    invite = RegistrationInvite(token_hash=hash_invite(token), created_at=now,
                                expires_at=now + timedelta(hours=hours))
    db.add(invite)
    db.flush()
    return token, invite


def invite_url(base_url: str, token: str) -> str:
    """The URL an admin pastes into the LMS: ``<base_url>/lti/register?invite=<token>``."""
    return base_url.rstrip("/") + "/lti/register?" + urlencode({"invite": token})


def find_invite(db: Session, token: str | None, *, now: datetime | None = None
                ) -> RegistrationInvite:
    """The live invite for ``token``; raises ``InviteError`` saying which way it is not."""
    if not token:
        raise InviteError("missing", "This registration address has no invite in it. Paste "
                                     "the whole address that 'lti-tool registration-url' "
                                     "printed.")
    if len(token) > 200:
        raise InviteError("unknown", "This registration invite is not one the tool issued.")
    invite = db.scalar(
        select(RegistrationInvite).where(RegistrationInvite.token_hash == hash_invite(token))
    )
    now = now or utcnow()
    if invite is None:
        raise InviteError("unknown", "This registration invite is not one the tool issued.")
    if invite.used_at is not None:
        raise InviteError("used", "This registration invite was used already "
                                  f"({invite.used_at:%Y-%m-%d %H:%M} UTC). Each one works once.")
    if invite.expires_at <= now:
        raise InviteError("expired", "This registration invite expired at "
                                     f"{invite.expires_at:%Y-%m-%d %H:%M} UTC.")
    return invite


def consume_invite(db: Session, invite: RegistrationInvite, registration: Registration,
                   *, now: datetime | None = None) -> None:
    """Mark the invite used by ``registration``; refuses an invite used meanwhile."""
    result = db.execute(
        update(RegistrationInvite)
        .where(RegistrationInvite.id == invite.id, RegistrationInvite.used_at.is_(None))
        .values(used_at=now or utcnow(), registration_id=registration.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InviteError("used", "This registration invite was used already.")


def open_invites(db: Session, *, now: datetime | None = None) -> int:
    """How many invites could still be used."""
    now = now or utcnow()
    rows = db.scalars(select(RegistrationInvite).where(RegistrationInvite.used_at.is_(None)))
    return sum(1 for row in rows if row.expires_at > now)


# -- the platform's configuration --------------------------------------------------------


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (default ports left out), lower case."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in {("https", 443), ("http", 80)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _absolute(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 1000:
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


@dataclass(frozen=True)
class MessageSupport:
    """A message type the platform supports, with its placements when it lists them."""

    type: str
    placements: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlatformConfiguration:
    """What the platform's OpenID configuration says about it (LTI DR 1.0 section 3)."""

    configuration_url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    token_audience: str | None = None
    product_family: str | None = None
    version: str | None = None
    scopes_supported: tuple[str, ...] = ()
    claims_supported: tuple[str, ...] = ()
    messages: tuple[MessageSupport, ...] = field(default=())

    @property
    def product_name(self) -> str:
        """A name an admin recognises: "Moodle", "Canvas", or the family code."""
        code = self.product_family or ""
        return PRODUCT_NAMES.get(code, code or "LMS")

    @property
    def is_canvas(self) -> bool:
        return self.product_family == "canvas"

    @property
    def is_moodle(self) -> bool:
        return self.product_family == "moodle"

    def placements_for(self, message_type: str) -> tuple[str, ...] | None:
        """The placements listed for ``message_type``; None when the platform lists none."""
        for message in self.messages:
            if message.type == message_type and message.placements:
                return message.placements
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form, kept server-side between the confirm page and its POST."""
        return {
            "configuration_url": self.configuration_url, "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint, "jwks_uri": self.jwks_uri,
            "registration_endpoint": self.registration_endpoint,
            "token_audience": self.token_audience, "product_family": self.product_family,
            "version": self.version, "scopes_supported": list(self.scopes_supported),
            "claims_supported": list(self.claims_supported),
            "messages": [{"type": m.type, "placements": list(m.placements)}
                         for m in self.messages],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlatformConfiguration:
        return cls(
            configuration_url=data["configuration_url"], issuer=data["issuer"],
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"], jwks_uri=data["jwks_uri"],
            registration_endpoint=data["registration_endpoint"],
            token_audience=data.get("token_audience"),
            product_family=data.get("product_family"), version=data.get("version"),
            scopes_supported=tuple(data.get("scopes_supported") or ()),
            claims_supported=tuple(data.get("claims_supported") or ()),
            messages=tuple(MessageSupport(m["type"], tuple(m.get("placements") or ()))
                           for m in data.get("messages") or ()),
        )


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))[:200]


def _messages(value: Any) -> tuple[MessageSupport, ...]:
    """``messages_supported``: objects (DR 1.0) or bare type names (older Moodle)."""
    found: list[MessageSupport] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            found.append(MessageSupport(item))
        elif isinstance(item, dict) and isinstance(item.get("type"), str):
            found.append(MessageSupport(item["type"], _strings(item.get("placements"))))
    return tuple(found)


def parse_platform_configuration(data: Any, configuration_url: str) -> PlatformConfiguration:
    """Check the platform's OpenID configuration; raises ``RegistrationError``.

    The issuer must share the configuration URL's origin (scheme, host and port), so a
    configuration served by one site cannot claim to be another platform.
    """
    if not isinstance(data, dict):
        raise RegistrationError("platform_invalid_response",
                                "The LMS's configuration is not a JSON object.", 502)
    issuer = data.get("issuer")
    if not _absolute(issuer):
        raise RegistrationError("platform_invalid_response",
                                "The LMS's configuration has no valid issuer.", 502)
    issuer = issuer.rstrip("/")
    if origin(issuer) != origin(configuration_url):
        raise RegistrationError(
            "registration_issuer_mismatch",
            f"The LMS says its issuer is {issuer}, but its configuration came from "
            f"{origin(configuration_url)}. The two must be the same site, so this "
            "registration was stopped.",
        )
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri",
                 "registration_endpoint"):
        value = data.get(name)
        if not _absolute(value):
            raise RegistrationError("platform_invalid_response",
                                    f"The LMS's configuration has no valid {name}.", 502)
        endpoints[name] = value
    platform = data.get(PLATFORM_CONFIGURATION)
    platform = platform if isinstance(platform, dict) else {}
    family = platform.get("product_family_code")
    version = platform.get("version")
    audience = data.get("authorization_server")
    return PlatformConfiguration(
        configuration_url=configuration_url,
        issuer=issuer,
        # DR 1.0: the aud of the tool's client assertions. Canvas has published a bare host
        # name here; only a URL is taken, otherwise the token URL stays the audience.
        token_audience=audience if _absolute(audience) else None,
        product_family=family.strip().lower()[:50] if isinstance(family, str) and family.strip()
        else None,
        version=str(version)[:100] if isinstance(version, str | int | float) else None,
        scopes_supported=_strings(data.get("scopes_supported")),
        claims_supported=_strings(data.get("claims_supported")),
        messages=_messages(platform.get("messages_supported")),
        **endpoints,
    )


# -- the platform's answer -------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationResult:
    """What the platform granted: a client id, maybe a deployment id, the scopes."""

    client_id: str
    deployment_id: str | None
    scopes: tuple[str, ...]


def parse_registration_response(data: Any) -> RegistrationResult:
    """Read the client registration response (DR 1.0 section 3.6); raises on a bad one."""
    if not isinstance(data, dict):
        raise RegistrationError("platform_invalid_response",
                                "The LMS answered the registration with something that is "
                                "not a JSON object.", 502)
    client_id = data.get("client_id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        client_id = str(client_id)  # Canvas ids are numbers in some answers
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 255:
        raise RegistrationError("platform_invalid_response",
                                "The LMS's answer has no client id.", 502)
    tool = data.get(TOOL_CONFIGURATION)
    deployment_id = tool.get("deployment_id") if isinstance(tool, dict) else None
    if isinstance(deployment_id, int) and not isinstance(deployment_id, bool):
        deployment_id = str(deployment_id)
    if not isinstance(deployment_id, str) or not deployment_id.strip():
        deployment_id = None
    scope = data.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) else ()
    return RegistrationResult(client_id.strip(), deployment_id and deployment_id.strip(),
                              scopes)


def registrations_for_issuer(db: Session, issuer: str) -> list[Registration]:
    """Registrations the tool already has for ``issuer``."""
    return list(db.scalars(
        select(Registration).where(Registration.issuer == issuer.rstrip("/"))
        .order_by(Registration.id)
    ))


def registration_name(platform: PlatformConfiguration) -> str:
    """A readable name: product and host, e.g. "Moodle (moodle.example.org)"."""
    host = urlsplit(platform.issuer).netloc
    return f"{platform.product_name} ({host})"[:200]


def record_registration(db: Session, platform: PlatformConfiguration,
                        result: RegistrationResult, *, link_existing: bool) -> Registration:
    """Store the registration the platform made: issuer, client id, endpoints and its
    deployment (active). An issuer that already has a registration is only linked when the
    admin said so (``link_existing``)."""
    existing = registrations_for_issuer(db, platform.issuer)
    if existing and not link_existing and not any(
        row.client_id == result.client_id for row in existing
    ):
        raise RegistrationError(
            "registration_issuer_exists",
            f"{platform.issuer} is already registered with this tool. Tick \"Link to the "
            "existing issuer\" to add this registration beside it.", 409,
        )
    data = PlatformInput(
        name=registration_name(platform),
        issuer=platform.issuer,
        client_id=result.client_id,
        auth_login_url=platform.authorization_endpoint,
        auth_token_url=platform.token_endpoint,
        key_set_url=platform.jwks_uri,
        token_audience=platform.token_audience,
        deployment_policy="accept" if platform.product_family in ACCEPT_DEPLOYMENTS
        else "hold",
        deployment_ids=[result.deployment_id] if result.deployment_id else [],
        product_family=platform.product_family,
    )
    try:
        return upsert_platform(db, data)
    except PlatformError as exc:
        raise RegistrationError("platform_invalid_response",
                                f"The LMS's registration could not be stored: {exc}",
                                502) from None
