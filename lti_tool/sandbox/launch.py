"""Launches: the login initiation hint, the id_token's claims, and the on-purpose defects.

Each fault in FAULTS puts exactly one defect into an otherwise valid launch; each variant
in VARIANTS is a valid launch a certified tool must accept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from . import vocab
from .keys import SigningKey, rogue_key
from .state import HINT_TTL, Sandbox, new_id
from .world import Course, Person

FAULTS: dict[str, str] = {
    "wrong_kid": "JWT header kid names no key in the platform JWKS",
    "no_kid": "JWT header has no kid",
    "bad_signature": "signed with a key the platform does not publish (right kid)",
    "alg_none": "unsigned token, alg none",
    "hs256": "HS256 signed with the platform's public key as the HMAC secret",
    "expired": "exp 5 minutes in the past",
    "future_iat": "iat 5 minutes in the future",
    "iat_missing": "no iat claim",
    "exp_missing": "no exp claim",
    "wrong_aud": "aud is another client id",
    "extra_aud_no_azp": "aud holds our client id and another one, and there is no azp",
    "wrong_azp": "aud holds two client ids and azp names the other one",
    "wrong_iss": "iss is not the platform issuer",
    "nonce_mismatch": "nonce differs from the one the tool sent",
    "missing_sub": "no sub claim",
    "missing_roles": "no roles claim",
    "missing_deployment_id": "no deployment_id claim",
    "missing_message_type": "no message_type claim",
    "missing_version": "no version claim",
    "wrong_version": "version 1.2.0",
    "missing_resource_link": "no resource_link claim (resource link launches only)",
    "missing_resource_link_id": "resource_link claim without id (resource link launches only)",
    "unknown_deployment": "deployment id sandbox-deployment-unknown, unknown to the tool",
    "not_jwt": "id_token is the string not-a-jwt",
    "wrong_state": "the form's state differs from the one the tool sent",
}

VARIANTS: dict[str, str] = {
    "multiple_roles": "context roles plus institution and system roles",
    "short_roles": "context roles as short names (Learner, Instructor, Mentor)",
    "unknown_role": "an unknown role URI beside the user's roles",
    "empty_roles": "roles claim is an empty list",
    "email_only": "email but no name claims",
    "names_only": "name claims but no email",
    "no_pii": "no name, given_name, family_name or email",
    "no_context": "no context claim (and so no AGS or NRPS claim)",
    "clock_ahead_3s": "iat 3 seconds in the future (a tool with leeway accepts it)",
}

RESOURCE_ONLY_FAULTS = ("missing_resource_link", "missing_resource_link_id")
UNKNOWN_DEPLOYMENT_ID = "sandbox-deployment-unknown"
OTHER_CLIENT_ID = "sandbox-other-client"
WRONG_ISSUER = "https://wrong-issuer.sandbox.invalid"
NAME_CLAIMS = ("name", "given_name", "family_name", "middle_name", "picture")


class LaunchError(Exception):
    """A launch cannot start or an authorization request is refused."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class LaunchRequest:
    """What a launch start asked for; kept under an opaque lti_message_hint."""

    user_id: str
    context_id: str | None
    link_id: str | None
    message: str
    client_id: str
    deployment_id: str
    fault: str | None = None
    variants: list[str] = field(default_factory=list)
    document_target: str = "iframe"
    target_link_uri: str = ""
    created: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the state."""
        return dict(self.__dict__)


def start_launch(sandbox: Sandbox, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Check a launch start's parameters, keep a hint, and return the tool login URL and the
    login initiation parameters."""
    user_id = params.get("user", "").strip()
    person = sandbox.world.person(user_id)
    if person is None:
        raise LaunchError("unknown_user", f"no user {user_id!r}")
    message = params.get("message", "resource") or "resource"
    if message not in ("resource", "deep_link"):
        raise LaunchError("bad_message", "message must be resource or deep_link")
    link_id = params.get("link", "").strip() or None
    context_id = params.get("context", "").strip() or None
    with sandbox.lock:
        link = sandbox.data["links"].get(link_id) if link_id else None
    if message == "resource":
        if link is None:
            raise LaunchError("unknown_link", f"no resource link {link_id!r}")
        if context_id and context_id != link["context_id"]:
            raise LaunchError("bad_context", f"link {link_id} is not in context {context_id}")
        context_id = link["context_id"]
    else:
        if context_id is None and link is not None:
            context_id = link["context_id"]
        context_id = context_id or "course-a"
        link_id = None
    course = sandbox.world.courses.get(context_id)
    if course is None:
        raise LaunchError("unknown_context", f"no context {context_id!r}")
    if course.enrolment(user_id) is None:
        raise LaunchError("not_enrolled", f"{user_id} is not enrolled in {context_id}")

    client_id = params.get("client", "").strip() or (
        (link or {}).get("client_id") or sandbox.config.client_id
    )
    client = sandbox.client(client_id)
    if client is None:
        raise LaunchError("unknown_client", f"no client {client_id!r}")

    fault = params.get("fault", "").strip() or None
    if fault is not None and fault not in FAULTS:
        raise LaunchError("unknown_fault", f"no fault {fault!r}; see the README")
    if fault in RESOURCE_ONLY_FAULTS and message != "resource":
        raise LaunchError("bad_fault", f"fault {fault} applies to resource link launches only")
    variants = [v for v in params.get("variant", "").replace(" ", "").split(",") if v]
    deployment_override = params.get("deployment", "").strip()
    for variant in list(variants):
        if variant.startswith("deployment="):
            # "variant=deployment=<id>" is the same as "deployment=<id>".
            deployment_override = variant.split("=", 1)[1]
            variants.remove(variant)
        elif variant not in VARIANTS:
            raise LaunchError("unknown_variant", f"no variant {variant!r}; see the README")
    target = params.get("target", "").strip() or "iframe"
    if target not in ("iframe", "window"):
        raise LaunchError("bad_target", "target must be iframe or window")

    deployment_id = deployment_override or client["deployment_ids"][0]
    if fault == "unknown_deployment":
        deployment_id = UNKNOWN_DEPLOYMENT_ID
    if message == "deep_link":
        default_target = client.get("deep_link_uri") or client["target_link_uri"]
    else:
        default_target = (link or {}).get("url") or client["target_link_uri"]
    target_link_uri = params.get("target_link_uri", "").strip() or default_target

    request = LaunchRequest(
        user_id=user_id, context_id=context_id, link_id=link_id, message=message,
        client_id=client["client_id"], deployment_id=deployment_id, fault=fault,
        variants=variants, document_target=target, target_link_uri=target_link_uri,
        created=time.time(),
    )
    hint = new_id("hint-", 12)
    with sandbox.mutate() as data:
        data["hints"][hint] = request.as_dict()
    login = {
        "iss": sandbox.config.issuer,
        "login_hint": user_id,
        "target_link_uri": target_link_uri,
        "lti_message_hint": hint,
        "client_id": client["client_id"],
        "lti_deployment_id": deployment_id,
    }
    return client["login_url"], login


def check_authorization_request(
    sandbox: Sandbox, params: dict[str, str]
) -> tuple[LaunchRequest, dict[str, Any]]:
    """Validate an OIDC authorization request (LTI Core 1.3 section 5.1.1.2)."""
    scopes = params.get("scope", "").split()
    if "openid" not in scopes:
        raise LaunchError("invalid_scope", "scope must contain openid")
    if params.get("response_type") != "id_token":
        raise LaunchError("unsupported_response_type", "response_type must be id_token")
    if params.get("response_mode") != "form_post":
        raise LaunchError("invalid_request", "response_mode must be form_post")
    if params.get("prompt") != "none":
        raise LaunchError("invalid_request", "prompt must be none")
    client_id = params.get("client_id", "")
    client = sandbox.client(client_id) if client_id else None
    if client is None:
        raise LaunchError("unauthorized_client", "client_id is missing or unknown")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client["redirect_uris"]:
        raise LaunchError("invalid_redirect_uri", "redirect_uri is not registered for client")
    for name in ("login_hint", "lti_message_hint", "nonce", "state"):
        if not params.get(name):
            raise LaunchError("invalid_request", f"{name} is missing")
    with sandbox.lock:
        stored = sandbox.data["hints"].get(params["lti_message_hint"])
        stored = dict(stored) if stored else None
    if stored is None or stored["created"] + HINT_TTL < time.time():
        raise LaunchError("invalid_request", "lti_message_hint is unknown or expired")
    request = LaunchRequest(**stored)
    if request.client_id != client["client_id"]:
        raise LaunchError("invalid_request", "lti_message_hint belongs to another client")
    if request.user_id != params["login_hint"]:
        raise LaunchError("login_required", "login_hint does not match the launching user")
    if client["status"] != "active":
        raise LaunchError(
            "client_pending", "this tool is registered but not activated by an administrator"
        )
    return request, client


def _roles(person: Person, course: Course) -> list[str]:
    enrolment = course.enrolment(person.user_id)
    context_roles = list(enrolment.roles) if enrolment else []
    return [*person.institution_roles, *context_roles]


def _substitute(value: str, values: dict[str, str]) -> str:
    # LTI custom variable substitution: unknown variables are passed through unchanged.
    return values.get(value, value) if value.startswith("$") else value


def build_claims(
    sandbox: Sandbox, request: LaunchRequest, client: dict[str, Any], nonce: str, now: int
) -> dict[str, Any]:
    """The id_token claims of a valid launch (variants applied, faults not yet)."""
    cfg = sandbox.config
    person = sandbox.world.people[request.user_id]
    course = sandbox.world.courses[request.context_id or "course-a"]
    with sandbox.lock:
        link = dict(sandbox.data["links"].get(request.link_id or "", {}) or {})
        lineitem = (
            sandbox.data["lineitems"].get(link["lineitem_id"]) if link.get("lineitem_id") else None
        )
        lineitem_alive = bool(lineitem) and not lineitem["deleted"]
    claims: dict[str, Any] = {
        "iss": cfg.issuer,
        "aud": client["client_id"],
        "azp": client["client_id"],
        "sub": person.user_id,
        "iat": now,
        "exp": now + cfg.id_token_ttl,
        "nonce": nonce,
        "name": person.name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "email": person.email,
        "locale": "en-GB",
        vocab.CLAIM_VERSION: vocab.LTI_VERSION,
        vocab.CLAIM_DEPLOYMENT_ID: request.deployment_id,
        vocab.CLAIM_TARGET_LINK_URI: request.target_link_uri,
        vocab.CLAIM_ROLES: _roles(person, course),
        vocab.CLAIM_CONTEXT: {
            "id": course.context_id, "label": course.label, "title": course.title,
            "type": [vocab.CONTEXT_TYPE_COURSE_OFFERING],
        },
        vocab.CLAIM_TOOL_PLATFORM: {
            "guid": "lti-sandbox:" + hashlib.sha256(cfg.issuer.encode()).hexdigest()[:16],
            "name": "LTI Sandbox LMS",
            # A client registered Moodle- or Canvas-like sees that product family.
            "product_family_code": (
                client["variant"] if client["variant"] in ("moodle", "canvas") else "lti-sandbox"
            ),
            "version": "0.1",
        },
        vocab.CLAIM_LAUNCH_PRESENTATION: {
            "document_target": request.document_target,
            "return_url": cfg.url("/"),
            "locale": "en-GB",
        },
    }
    requested_claims = client.get("claims")
    if requested_claims is not None:
        # Like Moodle, a dynamically registered tool gets personal data it asked for only.
        if not {"name", "given_name", "family_name"} & set(requested_claims):
            for name in NAME_CLAIMS:
                claims.pop(name, None)
        if "email" not in requested_claims:
            claims.pop("email", None)
    enrolment = course.enrolment(person.user_id)
    if enrolment and enrolment.mentees:
        claims[vocab.CLAIM_ROLE_SCOPE_MENTOR] = list(enrolment.mentees)

    granted = set(client["scopes"])
    ags_scopes = [s for s in vocab.AGS_SCOPES if s in granted]
    if ags_scopes:
        endpoint: dict[str, Any] = {
            "scope": ags_scopes, "lineitems": sandbox.lineitems_url(course.context_id),
        }
        if request.message == "resource" and lineitem_alive and lineitem is not None:
            endpoint["lineitem"] = sandbox.lineitem_url(course.context_id, lineitem["local_id"])
        claims[vocab.CLAIM_AGS_ENDPOINT] = endpoint
    if vocab.SCOPE_NRPS in granted:
        claims[vocab.CLAIM_NRPS] = {
            "context_memberships_url": sandbox.memberships_url(course.context_id),
            "service_versions": ["2.0"],
        }

    if request.message == "resource":
        claims[vocab.CLAIM_MESSAGE_TYPE] = vocab.MESSAGE_RESOURCE_LINK
        resource_link = {"id": link["id"], "title": link["title"]}
        if link.get("text"):
            resource_link["description"] = link["text"]
        claims[vocab.CLAIM_RESOURCE_LINK] = resource_link
        if link.get("custom"):
            values = {
                "$User.id": person.user_id, "$Context.id": course.context_id,
                "$ResourceLink.id": link["id"], "$Person.name.full": person.name,
                "$Person.email.primary": person.email,
            }
            claims[vocab.CLAIM_CUSTOM] = {
                k: _substitute(str(v), values) for k, v in link["custom"].items()
            }
    else:
        claims[vocab.CLAIM_MESSAGE_TYPE] = vocab.MESSAGE_DEEP_LINKING
        claims[vocab.CLAIM_DL_SETTINGS] = {
            "deep_link_return_url": cfg.deep_link_return_url,
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe", "window"],
            "accept_multiple": False,
            "auto_create": True,
            "title": "Add an activity",
            "data": secrets.token_urlsafe(18),
        }
    for variant in request.variants:
        _apply_variant(variant, claims, now)
    return claims


def _short_role(role: str) -> str | None:
    if role == vocab.ROLE_TEACHING_ASSISTANT:
        return None  # its principal role Instructor is already in the list
    if role.startswith(vocab.MEMBERSHIP_ROLE_PREFIX + "#"):
        return role.split("#", 1)[1]
    return role


def _apply_variant(variant: str, claims: dict[str, Any], now: int) -> None:
    roles: list[str] = claims.get(vocab.CLAIM_ROLES, [])
    if variant == "multiple_roles":
        institution = (
            vocab.ROLE_INSTITUTION_STUDENT if vocab.ROLE_LEARNER in roles
            else vocab.ROLE_INSTITUTION_FACULTY
        )
        claims[vocab.CLAIM_ROLES] = [*roles, institution, vocab.ROLE_SYSTEM_USER]
    elif variant == "short_roles":
        claims[vocab.CLAIM_ROLES] = [s for s in (_short_role(r) for r in roles) if s]
    elif variant == "unknown_role":
        claims[vocab.CLAIM_ROLES] = [*roles, vocab.ROLE_UNKNOWN]
    elif variant == "empty_roles":
        claims[vocab.CLAIM_ROLES] = []
    elif variant == "email_only":
        for name in NAME_CLAIMS:
            claims.pop(name, None)
    elif variant == "names_only":
        claims.pop("email", None)
    elif variant == "no_pii":
        for name in (*NAME_CLAIMS, "email"):
            claims.pop(name, None)
    elif variant == "no_context":
        # AGS and NRPS are services of a context: without one a platform sends neither.
        for name in (vocab.CLAIM_CONTEXT, vocab.CLAIM_AGS_ENDPOINT, vocab.CLAIM_NRPS):
            claims.pop(name, None)
    elif variant == "clock_ahead_3s":
        lifetime = claims["exp"] - claims["iat"]
        claims["iat"] = now + 3
        claims["exp"] = now + 3 + lifetime


_CLAIM_FAULT_REMOVALS = {
    "iat_missing": "iat",
    "exp_missing": "exp",
    "missing_sub": "sub",
    "missing_roles": vocab.CLAIM_ROLES,
    "missing_deployment_id": vocab.CLAIM_DEPLOYMENT_ID,
    "missing_message_type": vocab.CLAIM_MESSAGE_TYPE,
    "missing_version": vocab.CLAIM_VERSION,
    "missing_resource_link": vocab.CLAIM_RESOURCE_LINK,
}


def apply_claim_fault(fault: str | None, claims: dict[str, Any], now: int) -> None:
    """Put the claim-level defect named ``fault`` into ``claims``."""
    if fault is None:
        return
    lifetime = claims["exp"] - claims["iat"]
    if fault in _CLAIM_FAULT_REMOVALS:
        claims.pop(_CLAIM_FAULT_REMOVALS[fault], None)
    elif fault == "expired":
        claims["iat"] = now - 300 - lifetime
        claims["exp"] = now - 300
    elif fault == "future_iat":
        claims["iat"] = now + 300
        claims["exp"] = now + 300 + lifetime
    elif fault == "wrong_aud":
        claims["aud"] = OTHER_CLIENT_ID
        claims.pop("azp", None)
    elif fault == "extra_aud_no_azp":
        claims["aud"] = [claims["aud"], OTHER_CLIENT_ID]
        claims.pop("azp", None)
    elif fault == "wrong_azp":
        claims["aud"] = [claims["aud"], OTHER_CLIENT_ID]
        claims["azp"] = OTHER_CLIENT_ID
    elif fault == "wrong_iss":
        claims["iss"] = WRONG_ISSUER
    elif fault == "nonce_mismatch":
        claims["nonce"] = secrets.token_urlsafe(16)
    elif fault == "wrong_version":
        claims[vocab.CLAIM_VERSION] = "1.2.0"
    elif fault == "missing_resource_link_id":
        claims.get(vocab.CLAIM_RESOURCE_LINK, {}).pop("id", None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def encode_id_token(claims: dict[str, Any], key: SigningKey, fault: str | None) -> str:
    """Sign ``claims`` with the platform key, or produce the token-level defect ``fault``."""
    if fault == "not_jwt":
        return "not-a-jwt"
    if fault == "alg_none":
        header = {"alg": "none", "typ": "JWT", "kid": key.kid}
        return f"{_segment(header)}.{_segment(claims)}."
    if fault == "hs256":
        # The classic key-confusion attack: HMAC keyed with the published public key.
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"
    headers: dict[str, Any] = {"kid": key.kid}
    private_key: Any = key.private_key
    if fault == "wrong_kid":
        headers["kid"] = "sandbox-unknown-kid"
    elif fault == "no_kid":
        headers = {}
    elif fault == "bad_signature":
        private_key = rogue_key()
    return jwt.encode(claims, private_key, algorithm="RS256", headers=headers or None)


def issue_id_token(
    sandbox: Sandbox, request: LaunchRequest, client: dict[str, Any], nonce: str, state: str
) -> tuple[str, str, dict[str, Any]]:
    """Build and sign the launch's id_token; return (id_token, form state, claims)."""
    now = int(time.time())
    claims = build_claims(sandbox, request, client, nonce, now)
    apply_claim_fault(request.fault, claims, now)
    id_token = encode_id_token(claims, sandbox.keys.current, request.fault)
    form_state = state + "-tampered" if request.fault == "wrong_state" else state
    with sandbox.mutate() as data:
        settings = claims.get(vocab.CLAIM_DL_SETTINGS)
        if settings:
            data["deep_link_requests"][settings["data"]] = {
                "data": settings["data"], "client_id": client["client_id"],
                "deployment_id": request.deployment_id, "context_id": request.context_id,
                "user_id": request.user_id, "created": now, "used": False,
            }
        sandbox.append_capped(
            data["launches"],
            {**request.as_dict(), "issued_at": now, "claims": claims},
        )
    return id_token, form_state, claims
