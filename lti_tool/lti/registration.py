"""LTI Dynamic Registration 1.0 (tool side) and the Canvas developer-key JSON.

``GET /lti/register`` is opened by the LMS (in an iframe or a new window) with the tool's
single-use invite, the platform's ``openid_configuration`` URL and a ``registration_token``.
It fetches the platform's configuration and shows the admin what will be registered.
``POST /lti/register`` (the admin confirms) sends the tool's registration to the platform,
stores the client id and deployment it answers with, and ends with the
``org.imsglobal.lti.close`` postMessage. ``GET /lti/canvas.json`` is the manual Canvas set-up.

These pages have no launch session: the CSRF token is an HMAC of the invite, and the
fetched configuration waits server-side (the shared store) keyed by the invite's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import ReadTimeoutError

from lti_tool.persistence import utcnow
from lti_tool.runtime import current_runtime
from lti_tool.services.registrations import (
    TOOL_CONFIGURATION,
    InviteError,
    PlatformConfiguration,
    RegistrationError,
    consume_invite,
    find_invite,
    hash_invite,
    origin,
    parse_platform_configuration,
    parse_registration_response,
    record_registration,
    registrations_for_issuer,
)
from lti_tool.settings import Settings
from lti_tool.web import HTTPError, abort_with, db, error_response, forget_platform_origins

log = logging.getLogger("lti_tool.registration")

bp = Blueprint("registration", __name__)

TOOL_TITLE = "Competency assessment: Service improvement"
TOOL_DESCRIPTION = (
    "Assesses NHS KSF core dimension 4, Service improvement: situational judgement "
    "questions, self-assessment with evidence and review, and the level achieved sent to "
    "the gradebook."
)
CANVAS_TOOL_ID = "lti-tool-ksf-service-improvement"
COURSE_NAVIGATION_TEXT = "Competency assessments"

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"

SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
SCOPE_LABELS = {
    SCOPES[0]: "create and manage gradebook columns",
    SCOPES[1]: "read gradebook columns",
    SCOPES[2]: "read results (to check a score arrived)",
    SCOPES[3]: "send scores (the level achieved)",
    SCOPES[4]: "read the course roster (names, roles)",
}
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")

CANVAS_PRIVACY_LEVEL_KEY = "https://canvas.instructure.com/lti/privacy_level"
CANVAS_TOOL_ID_KEY = "https://canvas.instructure.com/lti/tool_id"
CANVAS_VISIBILITY_KEY = "https://canvas.instructure.com/lti/visibility"
CANVAS_NAV_DEFAULT_KEY = "https://canvas.instructure.com/lti/course_navigation/default_enabled"
# "public": educators need learners' names for the roster, the review queue and the CSV, and
# their email addresses to tell apart two learners with one name ("name_only" sends no
# email). Canvas's "public" also sends a picture URL, which the tool ignores.
CANVAS_PRIVACY_LEVEL = "public"
# Canvas placements: Deep Linking where educators add the activity, and a course-level list
# of the course's activities that only course staff see ("admins": teachers, TAs, designers
# and account admins, per Canvas's navigation tools documentation).
CANVAS_DEEP_LINKING_PLACEMENTS = ("assignment_selection", "link_selection")
CANVAS_COURSE_NAVIGATION = "course_navigation"
CANVAS_COURSE_NAVIGATION_VISIBILITY = "admins"

CLOSE_SUBJECT = "org.imsglobal.lti.close"

RATE_LIMIT_PER_MINUTE = 10
PENDING_SECONDS = 1800
MAX_RESPONSE_BYTES = 512 * 1024
MAX_PARAM_LENGTH = 2000

# These pages are framed by whichever LMS page the admin registers from. That origin is not
# known in advance (Canvas frames them from the institution's domain, not its issuer), and
# they are unusable without the secret single-use invite, so any ancestor may frame them.
REGISTRATION_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors *"
)


# -- what the tool registers -----------------------------------------------------------


@dataclass(frozen=True)
class ToolUrls:
    """The tool's public LTI URLs (DESIGN.md's public contract)."""

    login: str
    launch: str
    jwks: str
    course_navigation: str
    domain: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolUrls:
        launch = settings.url("/lti/launch")
        return cls(
            login=settings.url("/lti/login"),
            launch=launch,
            jwks=settings.url("/lti/jwks"),
            course_navigation=launch + "?placement=" + CANVAS_COURSE_NAVIGATION,
            domain=urlsplit(settings.base_url).netloc,
        )


def _placements(wanted: tuple[str, ...], platform: PlatformConfiguration,
                message_type: str) -> list[str]:
    """``wanted`` placements the platform offers for ``message_type`` (all when it lists
    none)."""
    offered = platform.placements_for(message_type)
    return [p for p in wanted if offered is None or p in offered]


def tool_messages(urls: ToolUrls, platform: PlatformConfiguration) -> list[dict[str, Any]]:
    """The messages the tool registers; Canvas gets its placements."""
    deep_linking: dict[str, Any] = {"type": DEEP_LINKING, "target_link_uri": urls.launch,
                                    "label": TOOL_TITLE}
    if not platform.is_canvas:
        resource_link = {"type": RESOURCE_LINK, "target_link_uri": urls.launch,
                         "label": TOOL_TITLE}
        return [resource_link, deep_linking]
    messages = []
    placements = _placements(CANVAS_DEEP_LINKING_PLACEMENTS, platform, DEEP_LINKING)
    if placements:
        messages.append({**deep_linking, "placements": placements})
    if _placements((CANVAS_COURSE_NAVIGATION,), platform, RESOURCE_LINK):
        messages.append({
            "type": RESOURCE_LINK,
            "target_link_uri": urls.course_navigation,
            "label": COURSE_NAVIGATION_TEXT,
            "placements": [CANVAS_COURSE_NAVIGATION],
            CANVAS_VISIBILITY_KEY: CANVAS_COURSE_NAVIGATION_VISIBILITY,
            CANVAS_NAV_DEFAULT_KEY: True,
        })
    return messages


def tool_registration_request(settings: Settings,
                              platform: PlatformConfiguration) -> dict[str, Any]:
    """The client registration request the tool sends (DR 1.0 section 3.5.2)."""
    urls = ToolUrls.from_settings(settings)
    tool_configuration: dict[str, Any] = {
        "domain": urls.domain,
        "target_link_uri": urls.launch,
        "description": TOOL_DESCRIPTION,
        "claims": list(CLAIMS),
        "messages": tool_messages(urls, platform),
    }
    if platform.is_canvas:
        tool_configuration[CANVAS_PRIVACY_LEVEL_KEY] = CANVAS_PRIVACY_LEVEL
        tool_configuration[CANVAS_TOOL_ID_KEY] = CANVAS_TOOL_ID
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls.login,
        "redirect_uris": [urls.launch],
        "client_name": TOOL_TITLE,
        "jwks_uri": urls.jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIGURATION: tool_configuration,
    }


def canvas_configuration(settings: Settings) -> dict[str, Any]:
    """The Canvas developer-key JSON (Canvas's "Anatomy of a JSON configuration")."""
    urls = ToolUrls.from_settings(settings)
    placements: list[dict[str, Any]] = [
        {
            "placement": name,
            "message_type": DEEP_LINKING,
            "target_link_uri": urls.launch,
            "text": "Add a competency assessment",
            "enabled": True,
        }
        for name in CANVAS_DEEP_LINKING_PLACEMENTS
    ]
    placements.append({
        "placement": CANVAS_COURSE_NAVIGATION,
        "message_type": RESOURCE_LINK,
        "target_link_uri": urls.course_navigation,
        "text": COURSE_NAVIGATION_TEXT,
        "enabled": True,
        "visibility": CANVAS_COURSE_NAVIGATION_VISIBILITY,
        "default": "enabled",
    })
    return {
        "title": TOOL_TITLE,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls.login,
        "target_link_uri": urls.launch,
        "public_jwk_url": urls.jwks,
        "scopes": list(SCOPES),
        "extensions": [{
            "platform": "canvas.instructure.com",
            "domain": urls.domain,
            "tool_id": CANVAS_TOOL_ID,
            "privacy_level": CANVAS_PRIVACY_LEVEL,
            "settings": {"text": TOOL_TITLE, "placements": placements},
        }],
    }


# -- calls to the platform ---------------------------------------------------------------


def check_outbound_url(url: str, settings: Settings) -> None:
    """Refuse a URL the tool must not fetch: not https, or resolving to a private, loopback,
    link-local or otherwise non-public address (unless ``allow_private_registration_urls``).

    Without this check anyone holding an invite could make the tool call an address of
    their choosing inside its network.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RegistrationError("registration_url_refused",
                                "The LMS gave an address that is not a web address.")
    if parts.username or parts.password:
        raise RegistrationError("registration_url_refused",
                                "The LMS gave an address with a user name or password in it.")
    if settings.allow_private_registration_urls:
        return
    if parts.scheme != "https":
        raise RegistrationError("registration_url_refused",
                                f"The LMS address {origin(url)} does not use HTTPS. The tool "
                                "only registers with an LMS over HTTPS.")
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise RegistrationError("platform_unreachable",
                                f"The tool could not find the LMS at {origin(url)} (its name "
                                "does not resolve).", 502) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise RegistrationError(
                "registration_url_refused",
                f"The LMS address {origin(url)} leads to a private or local network "
                "address, which the tool does not call.",
            )


def _platform_reason(body: bytes, content_type: str) -> str:
    """The platform's own error text, short and printable (or "" when there is none)."""
    text = body[:4000].decode("utf-8", "replace")
    reason = ""
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            errors = data.get("errors")
            if isinstance(errors, list) and errors:
                first = errors[0]
                reason = first.get("message", "") if isinstance(first, dict) else str(first)
            reason = str(data.get("error_description") or data.get("error") or reason or "")
    elif "html" not in content_type and "<html" not in text[:200].lower():
        reason = text
    reason = " ".join("".join(ch for ch in reason if ch.isprintable()).split())
    return reason[:300]


def call_platform(method: str, url: str, *, token: str | None,
                  body: dict[str, Any] | None = None) -> Any:
    """One call to the platform: no redirects followed, a timeout, a size limit, and every
    failure turned into a ``RegistrationError`` an admin can read."""
    runtime = current_runtime()
    settings = runtime.settings
    check_outbound_url(url, settings)
    where = origin(url)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = settings.http_timeout_seconds
    try:
        response = runtime.http.request(method, url, headers=headers, json=body,
                                        timeout=timeout, allow_redirects=False, stream=True)
        try:
            raw = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True) or b""
        finally:
            response.close()
    except (requests.Timeout, ReadTimeoutError):
        raise RegistrationError("platform_unreachable",
                                f"The LMS at {where} did not answer within {timeout:g} "
                                "seconds. Try again in a moment.", 502) from None
    except (requests.RequestException, TransportError, OSError) as exc:
        log.warning("registration call failed", extra={"platform": where,
                                                       "error": type(exc).__name__})
        raise RegistrationError("platform_unreachable",
                                f"The tool could not reach the LMS at {where} (the connection "
                                "failed or was dropped). Try again in a moment.", 502) from None
    status = response.status_code
    reason = _platform_reason(raw, response.headers.get("Content-Type", ""))
    said = f" The LMS said: \u201c{reason}\u201d." if reason else ""
    if 300 <= status < 400:
        raise RegistrationError("platform_redirected",
                                f"The LMS at {where} answered with a redirect (HTTP {status}), "
                                "which the tool does not follow.", 502)
    if status in {401, 403}:
        raise RegistrationError("platform_refused",
                                f"The LMS refused the registration token (HTTP {status}): it "
                                f"may have expired or been used already.{said} Start the "
                                "registration again from the LMS.", 502)
    if status == 429:
        raise RegistrationError("platform_busy",
                                f"The LMS is busy (HTTP 429).{said} Wait a minute and start "
                                "again from the LMS.", 502)
    if 400 <= status < 500:
        raise RegistrationError("platform_refused",
                                f"The LMS refused the request (HTTP {status}).{said}", 502)
    if status >= 500:
        raise RegistrationError("platform_failed",
                                f"The LMS had an error (HTTP {status}).{said} Try again in a "
                                "moment.", 502)
    if len(raw) > MAX_RESPONSE_BYTES:
        raise RegistrationError("platform_invalid_response",
                                "The LMS's answer is too large to be a registration.", 502)
    try:
        return json.loads(raw)
    except ValueError:
        raise RegistrationError("platform_invalid_response",
                                f"The LMS at {where} did not answer with JSON (HTTP {status}).",
                                502) from None


# -- pages ---------------------------------------------------------------------------


def _pending_key(invite_token: str) -> str:
    return "registration:pending:" + hash_invite(invite_token)


def _lock_key(invite_token: str) -> str:
    return "registration:lock:" + hash_invite(invite_token)


def registration_csrf_token(invite_token: str) -> str:
    """The confirm form's CSRF token: an HMAC of the invite with the tool's secret."""
    key = current_runtime().settings.secret_key.encode()
    return hmac.new(key, b"registration-csrf:" + invite_token.encode(),
                    hashlib.sha256).hexdigest()


def _rate_limit() -> None:
    """At most ``RATE_LIMIT_PER_MINUTE`` registration requests a minute per client address
    (guessing invites, or making the tool call out, stays slow)."""
    address = request.remote_addr or "unknown"
    count = current_runtime().store.incr(f"ratelimit:register:{address}", 60)
    if count > RATE_LIMIT_PER_MINUTE:
        abort_with(429, "rate_limited",
                   "Too many registration attempts from your network. Wait a minute and try "
                   "again.")


def _live_invite(token: str | None):
    try:
        return find_invite(db(), token)
    except InviteError as exc:
        log.info("registration refused", extra={"reason": f"invite_{exc.reason}"})
        abort_with(403, "registration_invite_invalid", exc.message,
                   hint="Ask the tool's administrator for a new registration address "
                        "(they run 'lti-tool registration-url').",
                   extra={"reason": exc.reason})


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status,
                        mimetype="text/html")
    response.headers["Content-Security-Policy"] = REGISTRATION_CSP
    return response


@bp.errorhandler(HTTPError)
def _registration_http_error(error: HTTPError) -> Response:
    response = error_response(error.code, error.error_code, error.message, hint=error.hint,
                              extra=error.extra)
    response.headers["Content-Security-Policy"] = REGISTRATION_CSP
    if error.error_code == "rate_limited":
        response.headers["Retry-After"] = "60"
    return response


@bp.errorhandler(RegistrationError)
def _registration_error(error: RegistrationError) -> Response:
    log.warning("registration failed", extra={"code": error.code})
    response = error_response(error.status, error.code, error.message,
                              hint="Nothing was registered. Close this window and start "
                                   "again from the LMS when the problem is fixed."
                              if error.status >= 500 else None)
    response.headers["Content-Security-Policy"] = REGISTRATION_CSP
    return response


def _summary(settings: Settings, platform: PlatformConfiguration) -> dict[str, Any]:
    """What the confirm page lists: the request the tool will send, in plain words."""
    body = tool_registration_request(settings, platform)
    tool = body[TOOL_CONFIGURATION]
    supported = set(platform.scopes_supported)
    scopes = [{"uri": s, "label": SCOPE_LABELS[s],
               "offered": not supported or s in supported} for s in SCOPES]
    placements = [
        {"placement": p, "message": m["type"], "target": m["target_link_uri"],
         "visibility": m.get(CANVAS_VISIBILITY_KEY)}
        for m in tool["messages"] for p in m.get("placements", [])
    ]
    return {"urls": ToolUrls.from_settings(settings), "scopes": scopes,
            "claims": tool["claims"], "placements": placements,
            "privacy_level": tool.get(CANVAS_PRIVACY_LEVEL_KEY)}


@bp.get("/lti/register")
def register_start():
    """The LMS opens this with the invite, its configuration URL and a registration token:
    fetch the configuration and ask the admin to confirm."""
    _rate_limit()
    invite_token = request.args.get("invite", "")
    invite = _live_invite(invite_token)
    configuration_url = request.args.get("openid_configuration", "").strip()
    registration_token = request.args.get("registration_token", "").strip() or None
    if not configuration_url:
        abort_with(400, "registration_not_from_platform",
                   "This registration address works from inside an LMS, not on its own.",
                   hint="Paste the whole address into Moodle (Site administration > Plugins > "
                        "Activity modules > External tool > Manage tools > Tool URL) or "
                        "Canvas (Developer Keys > + Developer Key > LTI Registration).")
    if len(configuration_url) > MAX_PARAM_LENGTH or len(registration_token or "") > 8000:
        abort_with(400, "registration_request_invalid",
                   "The LMS sent a registration request that is too long.")
    data = call_platform("GET", configuration_url, token=registration_token)
    platform = parse_platform_configuration(data, configuration_url)
    check_outbound_url(platform.registration_endpoint, current_runtime().settings)
    runtime = current_runtime()
    ttl = int(min(PENDING_SECONDS, (invite.expires_at - utcnow()).total_seconds()))
    runtime.store.set(_pending_key(invite_token), json.dumps(
        {"platform": platform.to_json(), "registration_token": registration_token}
    ), max(ttl, 1))
    existing = registrations_for_issuer(db(), platform.issuer)
    log.info("registration configuration fetched",
             extra={"issuer": platform.issuer, "product": platform.product_family or ""})
    return _page("registration/confirm.html", platform=platform, existing=existing,
                 invite=invite_token, csrf=registration_csrf_token(invite_token),
                 **_summary(runtime.settings, platform))


@bp.post("/lti/register")
def register_confirm():
    """The admin confirmed: register with the platform and store what it answers."""
    _rate_limit()
    invite_token = request.form.get("invite", "")
    invite = _live_invite(invite_token)
    sent = request.form.get("csrf_token", "")
    if not hmac.compare_digest(sent.encode(), registration_csrf_token(invite_token).encode()):
        abort_with(403, "csrf_failed",
                   "This form did not come from this tool's registration page. Start again "
                   "from the LMS.")
    runtime = current_runtime()
    pending = runtime.store.get(_pending_key(invite_token))
    if pending is None:
        abort_with(400, "registration_session_expired",
                   "This registration waited too long and has expired. Start again from the "
                   "LMS; the same registration address still works.")
    saved = json.loads(pending)
    platform = PlatformConfiguration.from_json(saved["platform"])
    link_existing = request.form.get("link_existing") == "yes"
    if registrations_for_issuer(db(), platform.issuer) and not link_existing:
        abort_with(409, "registration_issuer_exists",
                   f"{platform.issuer} is already registered with this tool, and linking to "
                   "it was not confirmed. Go back, tick \"Link to the existing issuer\" and "
                   "register again, or close this window to leave things as they are.")
    if not runtime.store.add(_lock_key(invite_token), "1",
                             int(runtime.settings.http_timeout_seconds * 2) + 10):
        abort_with(409, "registration_in_progress",
                   "This registration is already being sent to the LMS. Wait for it to "
                   "finish.")
    try:
        answer = call_platform("POST", platform.registration_endpoint,
                               token=saved.get("registration_token"),
                               body=tool_registration_request(runtime.settings, platform))
    finally:
        runtime.store.delete(_lock_key(invite_token))
    result = parse_registration_response(answer)
    runtime.store.delete(_pending_key(invite_token))
    # Database writes come last: on SQLite the shared store is the same database, and a
    # store write after this request's first write would wait on its own lock.
    registration = record_registration(db(), platform, result, link_existing=link_existing)
    try:
        consume_invite(db(), invite, registration)
    except InviteError as exc:
        abort_with(403, "registration_invite_invalid", exc.message)
    log.info("registration stored",
             extra={"registration_id": registration.id, "issuer": registration.issuer,
                    "product": platform.product_family or "",
                    "deployment": bool(result.deployment_id)})
    response = _page("registration/done.html", platform=platform, registration=registration,
                     result=result, pending=platform.is_moodle, close_subject=CLOSE_SUBJECT)
    response.call_on_close(_forget_origins_after_commit(current_app._get_current_object()))
    return response


def _forget_origins_after_commit(app):
    """Framing rules must follow the new registration, but only once it is committed (the
    commit point runs after the view; this runs when the response is done)."""

    def forget() -> None:
        with app.app_context():
            forget_platform_origins()

    return forget


@bp.get("/lti/canvas.json")
def canvas_json():
    """Canvas developer-key configuration (Developer Keys > + LTI Key > Paste JSON / URL)."""
    response = jsonify(canvas_configuration(current_runtime().settings))
    response.headers["Cache-Control"] = "no-cache"
    return response
