"""LTI Dynamic Registration 1.0, platform side, in a Moodle-like and a Canvas-like variant.

Moodle: the OpenID configuration needs no token and a new tool is *pending* until an
administrator activates it. Canvas: the configuration needs the registration token as a
Bearer, placements are listed per message, and the tool is active at once.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlparse

from flask import Blueprint, Response, redirect, render_template, request, url_for

from . import vocab
from .http import fault_response, html_error, json_error, json_response, sandbox
from .state import REGISTRATION_TOKEN_TTL, Sandbox, new_id

bp = Blueprint("registration", __name__)

VARIANTS = ("moodle", "canvas")
SUBSTITUTION_VARIABLES = (
    "User.id", "Context.id", "ResourceLink.id", "Person.name.full", "Person.email.primary",
)
CANVAS_PLACEMENTS = {
    vocab.MESSAGE_RESOURCE_LINK: ["course_navigation", "link_selection"],
    vocab.MESSAGE_DEEP_LINKING: ["assignment_selection", "link_selection"],
}


def create_registration_token(sb: Sandbox, variant: str, tool_url: str = "") -> str:
    """A single-use registration token for ``variant``."""
    token = secrets.token_urlsafe(24)
    with sb.mutate() as data:
        data["registration_tokens"][token] = {
            "variant": variant, "created": time.time(), "used": False, "tool_url": tool_url,
        }
    return token


def openid_configuration_url(sb: Sandbox, variant: str) -> str:
    """The configuration URL given to the tool (the variant travels in the query)."""
    return sb.config.openid_configuration_url + "?" + urlencode({"variant": variant})


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _token_record(sb: Sandbox, token: str) -> dict[str, Any] | None:
    with sb.lock:
        record = sb.data["registration_tokens"].get(token)
        record = dict(record) if record else None
    if record is None or record["created"] + REGISTRATION_TOKEN_TTL < time.time():
        return None
    return record


@bp.get("/register/start")
def register_start() -> Response:
    """Start a registration: frame the tool's registration URL with a fresh token."""
    sb = sandbox()
    variant = request.args.get("variant", "moodle")
    if variant not in VARIANTS:
        return html_error(400, "bad_variant", "variant must be moodle or canvas")
    tool_url = request.args.get("tool_url", "").strip()
    if not tool_url:
        page = render_template("register_form.html", variants=VARIANTS)
        return Response(page, content_type="text/html; charset=utf-8")
    parsed = urlparse(tool_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return html_error(400, "bad_tool_url", "tool_url must be an absolute http(s) URL")
    token = create_registration_token(sb, variant, tool_url)
    query = urlencode(
        {"openid_configuration": openid_configuration_url(sb, variant),
         "registration_token": token}
    )
    frame_url = tool_url + ("&" if "?" in tool_url else "?") + query
    page = render_template(
        "register_start.html", frame_url=frame_url, variant=variant,
        close_subject=vocab.CLOSE_MESSAGE_SUBJECT,
        tool_origin=f"{parsed.scheme}://{parsed.netloc}",
    )
    return Response(page, content_type="text/html; charset=utf-8")


def platform_configuration(sb: Sandbox, variant: str) -> dict[str, Any]:
    """The OpenID configuration with the LTI platform configuration (DR 1.0 section 3.5)."""
    cfg = sb.config
    messages: list[dict[str, Any]] = []
    for message_type in vocab.MESSAGES_SUPPORTED:
        message: dict[str, Any] = {"type": message_type}
        if variant == "canvas":
            message["placements"] = CANVAS_PLACEMENTS[message_type]
        messages.append(message)
    configuration: dict[str, Any] = {
        "issuer": cfg.issuer,
        "authorization_endpoint": cfg.auth_login_url,
        "token_endpoint": cfg.token_url,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": cfg.jwks_url,
        "registration_endpoint": cfg.registration_url,
        "scopes_supported": ["openid", *vocab.SERVICE_SCOPES],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "sub", "iss", "name", "given_name", "family_name", "email", "locale",
        ],
        vocab.PLATFORM_CONFIGURATION: {
            "product_family_code": variant,
            "version": "5.1 (sandbox)" if variant == "moodle" else "2026 (sandbox)",
            "messages_supported": messages,
            "variables": list(SUBSTITUTION_VARIABLES),
        },
    }
    if variant == "canvas":
        configuration["authorization_server"] = cfg.token_url
    return configuration


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """Platform configuration; the Canvas variant requires the registration token."""
    sb = sandbox()
    sb.count("openid_configuration")
    faulted = fault_response("openid_configuration")
    if faulted is not None:
        return faulted
    variant = request.args.get("variant", "moodle")
    token = _bearer()
    if token is not None:
        record = _token_record(sb, token)
        if record is None or record["used"]:
            return json_error(401, "invalid_token", "registration token unknown, used or expired")
        variant = record["variant"]
    elif variant == "canvas":
        return json_error(
            401, "invalid_token", "the registration token is required as a Bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="lti-sandbox"'},
        )
    if variant not in VARIANTS:
        return json_error(400, "invalid_request", "variant must be moodle or canvas")
    return json_response(platform_configuration(sb, variant))


def _absolute(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def validate_registration(body: Any) -> str | None:
    """The first problem of a client registration request (DR 1.0 section 3.5.2), or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if body.get("application_type") != "web":
        return "application_type must be web"
    grant_types = body.get("grant_types")
    if not isinstance(grant_types, list) or not {"implicit", "client_credentials"} <= set(
        grant_types
    ):
        return "grant_types must include implicit and client_credentials"
    response_types = body.get("response_types")
    if not isinstance(response_types, list) or "id_token" not in response_types:
        return "response_types must include id_token"
    redirect_uris = body.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(
        _absolute(u) for u in redirect_uris
    ):
        return "redirect_uris must be a non-empty list of absolute URLs"
    if not _absolute(body.get("initiate_login_uri")):
        return "initiate_login_uri must be an absolute URL"
    if not isinstance(body.get("client_name"), str) or not body["client_name"].strip():
        return "client_name is required"
    if not _absolute(body.get("jwks_uri")):
        return "jwks_uri must be an absolute URL"
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        return "token_endpoint_auth_method must be private_key_jwt"
    if "scope" in body and not isinstance(body["scope"], str):
        return "scope must be a space-separated string"
    tool = body.get(vocab.TOOL_CONFIGURATION)
    if not isinstance(tool, dict):
        return f"{vocab.TOOL_CONFIGURATION} is required"
    domain = tool.get("domain")
    if not isinstance(domain, str) or not domain:
        return "the tool configuration's domain is required"
    if not _absolute(tool.get("target_link_uri")):
        return "the tool configuration's target_link_uri must be an absolute URL"
    target = urlparse(tool["target_link_uri"])
    if domain not in (target.netloc, target.hostname):
        return "target_link_uri is not within the tool configuration's domain"
    if "claims" in tool and not (
        isinstance(tool["claims"], list) and all(isinstance(c, str) for c in tool["claims"])
    ):
        return "the tool configuration's claims must be a list of strings"
    messages = tool.get("messages", [])
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("type"), str) for m in messages
    ):
        return "the tool configuration's messages must be a list of objects with a type"
    for message in messages:
        if "target_link_uri" in message and not _absolute(message["target_link_uri"]):
            return "a message's target_link_uri must be an absolute URL"
    return None


@bp.post("/register")
def register() -> Response:
    """Client registration endpoint: single-use Bearer registration token."""
    sb = sandbox()
    sb.count("register")
    faulted = fault_response("register")
    if faulted is not None:
        return faulted
    token = _bearer()
    record = _token_record(sb, token) if token else None
    if record is None:
        return json_error(401, "invalid_token", "a valid registration token is required")
    if record["used"]:
        return json_error(401, "invalid_token", "this registration token was used already")
    body = request.get_json(silent=True)
    problem = validate_registration(body)
    if problem is not None:
        with sb.mutate() as data:
            sb.append_capped(
                data["registrations"],
                {"received_at": time.time(), "variant": record["variant"], "ok": False,
                 "error": problem, "request": body, "client_id": None},
            )
        return json_error(400, "invalid_client_metadata", problem)
    assert isinstance(body, dict)
    variant = record["variant"]
    tool = body[vocab.TOOL_CONFIGURATION]
    requested = body.get("scope", "").split()
    granted = [s for s in vocab.SERVICE_SCOPES if s in requested]
    deep_link_uri = next(
        (m.get("target_link_uri") for m in tool.get("messages", [])
         if m.get("type") == vocab.MESSAGE_DEEP_LINKING and m.get("target_link_uri")),
        None,
    )
    client_id = new_id(f"{variant}-client-", 6)
    deployment_id = new_id(f"{variant}-deployment-", 4)
    client = {
        "client_id": client_id,
        "deployment_ids": [deployment_id],
        "status": "pending" if variant == "moodle" else "active",
        "name": body["client_name"],
        "variant": variant,
        "login_url": body["initiate_login_uri"],
        "redirect_uris": list(body["redirect_uris"]),
        "target_link_uri": tool["target_link_uri"],
        "deep_link_uri": deep_link_uri or tool["target_link_uri"],
        "jwks_url": body["jwks_uri"],
        "scopes": granted,
        "claims": list(tool.get("claims", [])),
        "messages": list(tool.get("messages", [])),
        "registered_at": time.time(),
    }
    response = dict(body)
    response.update(
        {"client_id": client_id, "scope": " ".join(granted),
         vocab.TOOL_CONFIGURATION: {**tool, "deployment_id": deployment_id}}
    )
    with sb.mutate() as data:
        stored = data["registration_tokens"].get(token or "")
        if stored is None or stored["used"]:
            return json_error(401, "invalid_token", "this registration token was used already")
        stored["used"] = True
        data["clients"][client_id] = client
        sb.append_capped(
            data["registrations"],
            {"received_at": time.time(), "variant": variant, "ok": True, "error": None,
             "request": body, "client_id": client_id},
        )
    return json_response(response)


@bp.post("/admin/clients/<client_id>/activate")
def activate_client(client_id: str) -> Response:
    """An administrator activates a pending (Moodle-like) registration."""
    if not sandbox().set_client_status(client_id, "active"):
        return html_error(404, "unknown_client", "no registered client with this id")
    return redirect(url_for("pages.home") + "#clients", code=303)
