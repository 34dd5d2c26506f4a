"""An Open edX platform that signs LTI 1.3 launches with lti-consumer-xblock's own code.

Run as a subprocess by tests/interop (never imported by the test process), so that Django's
settings, caches and thread-locals never leak into the tool under test:

    python tests/interop/platform_openedx.py

It configures minimal Django settings, builds ``LtiAdvantageConsumer`` (a subclass of
``lti_consumer.lti_1p3.consumer.LtiConsumer1p3``) with freshly generated RSA keys, and
serves on 127.0.0.1 (port 0) what an Open edX LMS serves a tool, at Open edX's own paths:

- ``/api/lti_consumer/v1/public_keysets/<config_id>``: the platform's key set;
- ``/api/lti_consumer/v1/launch/``: the OIDC authorization endpoint ("launch gate"), which
  does what Open edX's ``launch_gate_endpoint`` does and answers with Open edX's own
  ``html/lti_1p3_launch.html`` auto-posting form;
- ``/api/lti_consumer/v1/lti/<config_id>/lti-dl/response``: the deep-linking return URL,
  which checks the tool's signed response as Open edX's ``deep_linking_response_endpoint``
  does (``check_and_decode_deep_linking_token`` against the tool's JWKS, then Open edX's
  content item serializers) and answers JSON with what it would store.

A browser (a ``requests.Session``) then walks each launch the way an Open edX iframe does:
GET the tool's login URL built by ``prepare_preflight_url``, follow the tool's redirect to
the launch gate, and POST the form's ``id_token`` and ``state`` to the tool.

Protocol, one JSON object a line: on start the script prints ``{"ready": {...}}`` (issuer,
client id, deployment id and the platform's URLs); then it reads commands on stdin and
answers each with one line, ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error":
"..."}``. Commands: ``{"op": "launch", "tool_url": URL, "launch": {...}}`` (see
``LaunchSpec``) and ``{"op": "quit"}``. Logs go to stderr; tokens are never printed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

PLATFORM_NAME = "Open edX (interop test)"
# Open edX gives every LTI 1.3 configuration the deployment id "1" (lti_consumer/models.py).
OPEN_EDX_DEPLOYMENT_ID = "1"
LAUNCH_GATE_PATH = "/api/lti_consumer/v1/launch/"
KEYSET_PATH = "/api/lti_consumer/v1/public_keysets/"
TOKEN_PATH = "/api/lti_consumer/v1/token/"
DEEP_LINKING = "LtiDeepLinkingRequest"
SIGNERS = ("platform", "other_key_same_kid", "other_key_other_kid")
REPLAYS = (None, "same_form", "fresh_login")
# Authorization request parameters echoed back to the test: none of them is a secret.
ECHOED_AUTH_PARAMS = ("scope", "response_type", "response_mode", "prompt", "client_id",
                      "redirect_uri", "login_hint", "lti_message_hint")

log = logging.getLogger("openedx-platform")


def configure_django() -> None:
    """The least Django that lti_consumer's consumer, cache helpers and templates need."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="interop-" + uuid.uuid4().hex,
        PLATFORM_NAME=PLATFORM_NAME,
        USE_TZ=True,
        INSTALLED_APPS=[],
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    )
    django.setup()


@dataclass
class LaunchSpec:
    """One launch as Open edX would describe it (the fields of ``Lti1p3LaunchData``), plus
    what the test wants done with it."""

    user_id: str
    role: str = "student"
    resource_link_id: str = "block-v1:NHS+KSF+2026+type@lti_consumer+block@interop"
    name: str | None = None
    email: str | None = None
    preferred_username: str | None = None
    context_id: str | None = None
    context_title: str | None = None
    context_label: str | None = None
    context_types: list[str] = field(default_factory=lambda: ["course_offering"])
    document_target: str = "iframe"
    return_url: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    message_type: str = "LtiResourceLinkRequest"
    ags: bool = True
    # Which key signs the id_token: the published one, or a key the platform never published
    # (under the published kid, or under a kid of its own).
    sign_with: str = "platform"
    # Deep linking: after the launch, submit the tool's first form with these changes to
    # its fields (None unticks or drops a field), then post the tool's response to Open edX.
    deep_link_form: dict[str, str | None] | None = None
    # After the launch, post its id_token again: "same_form" posts the same id_token and
    # state from the same browser; "fresh_login" posts it from another browser beside the
    # state of a login of its own (an id_token captured and replayed by someone else).
    replay: str | None = None


class OpenEdxPlatform:
    """Keys, settings and the consumer factory of one Open edX LTI 1.3 configuration."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from lti_consumer.lti_1p3.key_handlers import PlatformKeyHandler

        def new_pem() -> str:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()

        self.config_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.deployment_id = OPEN_EDX_DEPLOYMENT_ID
        key_pem, other_key_pem = new_pem(), new_pem()
        self.kid, other_kid = str(uuid.uuid4()), str(uuid.uuid4())
        # Open edX loads its key into a PlatformKeyHandler for every consumer it builds;
        # loading an RSA key costs ~0.1 s, so each signer's handler is loaded once here.
        self.key_handlers = {
            "platform": PlatformKeyHandler(key_pem, self.kid),
            "other_key_same_kid": PlatformKeyHandler(other_key_pem, self.kid),
            "other_key_other_kid": PlatformKeyHandler(other_key_pem, other_kid),
        }
        self.base_url = ""
        self.specs: dict[str, tuple[str, LaunchSpec]] = {}
        self.lock = threading.Lock()
        self.last_auth_request: dict[str, str] = {}
        # The tool whose deep-linking response the return URL checks (one launch at a time).
        self.deep_linking_tool_url = ""

    @property
    def issuer(self) -> str:
        return self.base_url

    def urls(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "deployment_id": self.deployment_id,
            "auth_login_url": self.base_url + LAUNCH_GATE_PATH,
            "auth_token_url": self.base_url + TOKEN_PATH + self.config_id,
            "key_set_url": self.base_url + KEYSET_PATH + self.config_id,
            "deep_link_return_url": self.deep_link_return_url,
            "kid": self.kid,
        }

    @property
    def deep_link_return_url(self) -> str:
        return f"{self.base_url}/api/lti_consumer/v1/lti/{self.config_id}/lti-dl/response"

    def consumer(self, tool_url: str, sign_with: str = "platform", *, deep_linking=False):
        """An ``LtiAdvantageConsumer`` configured as Open edX configures one for this tool."""
        from lti_consumer.lti_1p3.consumer import LtiAdvantageConsumer

        launch_url = tool_url + "/lti/launch"
        consumer = LtiAdvantageConsumer(
            iss=self.issuer,
            lti_oidc_url=tool_url + "/lti/login",
            lti_launch_url=launch_url,
            client_id=self.client_id,
            deployment_id=self.deployment_id,
            rsa_key=None,
            rsa_key_id=None,
            redirect_uris=[launch_url],
            tool_keyset_url=tool_url + "/lti/jwks",
        )
        consumer.key_handler = self.key_handlers[sign_with]
        if deep_linking:
            consumer.enable_deep_linking(launch_url, self.deep_link_return_url)
        return consumer

    def public_keyset(self) -> dict[str, Any]:
        """The key set Open edX publishes: the platform key only."""
        return self.consumer("http://tool.invalid").get_public_keyset()

    def launch_data(self, spec: LaunchSpec):
        from lti_consumer.data import Lti1p3LaunchData

        return Lti1p3LaunchData(
            user_id=spec.user_id,
            user_role=spec.role,
            config_id=self.config_id,
            resource_link_id=spec.resource_link_id,
            preferred_username=spec.preferred_username,
            name=spec.name,
            email=spec.email,
            launch_presentation_document_target=spec.document_target,
            launch_presentation_return_url=spec.return_url,
            message_type=spec.message_type,
            context_id=spec.context_id,
            context_type=spec.context_types or None,
            context_title=spec.context_title,
            context_label=spec.context_label,
            custom_parameters=dict(spec.custom),
        )

    def preflight_url(self, tool_url: str, spec: LaunchSpec) -> str:
        """The tool login URL Open edX puts in the iframe (third-party initiated login)."""
        consumer = self.consumer(tool_url, deep_linking=self._deep_linking(spec))
        url = consumer.prepare_preflight_url(self.launch_data(spec))
        hint = dict(parse_qsl(urlsplit(url).query))["lti_message_hint"]
        with self.lock:
            self.specs[hint] = (tool_url, spec)
            if self._deep_linking(spec):
                self.deep_linking_tool_url = tool_url
        return url

    @staticmethod
    def _deep_linking(spec: LaunchSpec) -> bool:
        return spec.message_type == DEEP_LINKING

    def deep_linking_return(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Open edX's deep-linking return URL: verify the tool's response, validate its
        content items, and say what Open edX would store."""
        import jwt
        from lti_consumer.lti_1p3.exceptions import Lti1p3Exception
        from lti_consumer.lti_1p3.extensions.rest_framework.constants import (
            LTI_DL_CONTENT_TYPE_SERIALIZER_MAP,
        )

        token = params.get("JWT") or ""
        consumer = self.consumer(self.deep_linking_tool_url, deep_linking=True)
        try:
            # Fetches the tool's JWKS (tool_keyset_url) and checks the signature and exp.
            content_items = consumer.check_and_decode_deep_linking_token(token)
        except (Lti1p3Exception, jwt.PyJWTError) as exc:
            return 400, {"error": type(exc).__name__, "detail": str(exc)[:200]}
        stored = []
        for item in content_items:
            serializer_cls = LTI_DL_CONTENT_TYPE_SERIALIZER_MAP.get(item.get("type"))
            if serializer_cls is None:
                return 400, {"error": "LtiDeepLinkingContentTypeNotSupported"}
            serializer = serializer_cls(data=item)
            if not serializer.is_valid():
                return 400, {"error": "content item invalid", "detail": serializer.errors}
            stored.append({"type": item.get("type"), **json.loads(json.dumps(
                serializer.validated_data, default=str))})
        # Open edX checks nothing else; these let the test check the envelope itself.
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        envelope = {name: claims.get(name) for name in ("iss", "aud", "azp")}
        for name in ("message_type", "version", "deployment_id"):
            envelope[name] = claims.get(f"https://purl.imsglobal.org/spec/lti/claim/{name}")
        for name in ("data", "msg", "errormsg"):
            envelope[name] = claims.get(f"https://purl.imsglobal.org/spec/lti-dl/claim/{name}")
        envelope["lifetime_seconds"] = claims.get("exp", 0) - claims.get("iat", 0)
        return 200, {"content_items": stored, "claims": envelope, "alg": header.get("alg")}

    def authorize(self, params: dict[str, str]) -> tuple[int, str]:
        """Open edX's launch gate: the tool's authorization request in, the auto-posting
        launch form out. Mirrors ``lti_consumer.plugin.views.launch_gate_endpoint``."""
        from lti_consumer.lti_1p3.exceptions import Lti1p3Exception
        from lti_consumer.utils import get_data_from_cache, get_lti_1p3_context_types_claim

        self.last_auth_request = {k: params[k] for k in ECHOED_AUTH_PARAMS if k in params}
        hint = params.get("lti_message_hint")
        if not hint or not params.get("login_hint"):
            return 400, "The lti_message_hint or login_hint is missing or empty."
        launch_data = get_data_from_cache(hint)
        with self.lock:
            tool_url, spec = self.specs.get(hint, (None, None))
        if launch_data is None or spec is None:
            return 400, "Unable to find record of an OIDC launch for the lti_message_hint."
        consumer = self.consumer(tool_url, spec.sign_with,
                                 deep_linking=self._deep_linking(spec))
        try:
            consumer.set_user_data(
                user_id=launch_data.external_user_id or launch_data.user_id,
                role=launch_data.user_role,
                full_name=launch_data.name,
                email_address=launch_data.email,
                preferred_username=launch_data.preferred_username,
            )
            consumer.set_resource_link_claim(launch_data.resource_link_id)
            consumer.set_launch_presentation_claim(
                document_target=launch_data.launch_presentation_document_target,
                return_url=launch_data.launch_presentation_return_url,
            )
            context_types = (get_lti_1p3_context_types_claim(launch_data.context_type)
                             if launch_data.context_type else None)
            # Open edX always has a course; a launch without one here simply has no claim.
            if launch_data.context_id:
                consumer.set_context_claim(launch_data.context_id, context_types,
                                           launch_data.context_title,
                                           launch_data.context_label)
            if launch_data.custom_parameters:
                consumer.set_custom_parameters(launch_data.custom_parameters)
            if spec.ags and not self._deep_linking(spec):
                # Open edX's graded LTI 1.3 blocks carry this claim (models.py, AGS enabled).
                lineitems = f"{self.base_url}/api/lti_consumer/v1/lti/{self.config_id}/lti-ags"
                consumer.enable_ags(lineitems_url=lineitems,
                                    lineitem_url=f"{lineitems}/1",
                                    allow_programmatic_grade_interaction=False)
            launch_request = consumer.generate_launch_request(preflight_response=params)
        except (Lti1p3Exception, ValueError, AssertionError) as exc:
            return 400, f"Error preparing LTI 1.3 launch: {type(exc).__name__}"
        return 200, render_launch_form(params.get("redirect_uri", ""), launch_request)


def render_launch_form(launch_url: str, launch_request: dict[str, str]) -> str:
    """Open edX's own launch template (html/lti_1p3_launch.html), rendered by Django."""
    import lti_consumer
    from django.template import Context, Engine

    engine = Engine(dirs=[str(Path(lti_consumer.__file__).parent / "templates")])
    template = engine.get_template("html/lti_1p3_launch.html")
    return template.render(Context({"launch_url": launch_url,
                                    "launch_request": launch_request}))


def make_handler(platform: OpenEdxPlatform):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            log.debug("%s %s", self.command, self.path.split("?")[0])

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, params: dict[str, str]) -> None:
            path = urlsplit(self.path).path
            if path == KEYSET_PATH + platform.config_id:
                self._send(200, json.dumps(platform.public_keyset()), "application/json")
            elif path == LAUNCH_GATE_PATH:
                status, body = platform.authorize(params)
                self._send(status, body, "text/html; charset=utf-8")
            elif path == urlsplit(platform.deep_link_return_url).path:
                status, answer = platform.deep_linking_return(params)
                self._send(status, json.dumps(answer), "application/json")
            else:
                self._send(404, "Not found", "text/plain")

        def do_GET(self):  # noqa: N802 - http.server's naming
            self._route(dict(parse_qsl(urlsplit(self.path).query)))

        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            self._route(dict(parse_qsl(body)))

    return Handler


class _LocalSecurePolicy(DefaultCookiePolicy):
    """Send Secure cookies to http://localhost and 127.0.0.1, as browsers do (both are
    potentially trustworthy origins)."""

    def return_ok_secure(self, cookie, request):
        if urlsplit(request.get_full_url()).hostname in {"localhost", "127.0.0.1"}:
            return True
        return super().return_ok_secure(cookie, request)


class _FormParser(HTMLParser):
    """Forms as a browser would submit them: text, hidden and number inputs, ticked boxes,
    the selected option of each select, and textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def _fields(self) -> dict[str, str]:
        return self.forms[-1]["fields"] if self.forms else {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "",
                               "method": (attrs.get("method") or "get").lower(),
                               "fields": {}})
        elif not self.forms:
            return
        elif tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            self._fields()[name] = attrs.get("value") or ("on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value") or ""
            if self._first_option is None:
                self._first_option = value
                self._fields().setdefault(self._select, value)
            if "selected" in attrs:
                self._fields()[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self._fields()[name] = ""

    def handle_data(self, data):
        if self._textarea and self.forms:
            self._fields()[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(page_html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(page_html)
    return parser.forms


def new_browser():
    """A requests session that behaves like a browser on localhost: Secure cookies travel
    over http://localhost and http://127.0.0.1."""
    import requests

    class Browser(requests.Session):
        def prepare_request(self, request):
            # Session.prepare_request merges the jar into a new one with the default policy,
            # which drops Secure cookies on http: send the jar's own choice instead.
            prepared = super().prepare_request(request)
            prepared.headers.pop("Cookie", None)
            prepared.prepare_cookies(self.cookies)
            return prepared

    browser = Browser()
    browser.cookies.set_policy(_LocalSecurePolicy())
    browser.headers["User-Agent"] = "Mozilla/5.0 (interop; Open edX LMS iframe)"
    browser.headers["Accept"] = "text/html,application/xhtml+xml"
    return browser


def _page(response) -> dict[str, Any]:
    """What the test may look at in a response: never a token."""
    return {
        "status": response.status_code,
        "url": response.url,
        "history": [[r.status_code, r.url.split("?")[0]] for r in response.history],
        "error_code": response.headers.get("X-Error-Code"),
        "content_type": response.headers.get("Content-Type"),
        "csp": response.headers.get("Content-Security-Policy"),
        "x_frame_options": response.headers.get("X-Frame-Options"),
        "text": response.text,
    }


def run_launch(platform: OpenEdxPlatform, tool_url: str, spec: LaunchSpec) -> dict[str, Any]:
    """Walk one launch through a fresh browser, as an Open edX learner's iframe does."""
    browser = new_browser()
    result: dict[str, Any] = {}
    form, gate = _login(platform, browser, tool_url, spec, result)
    if form is None:
        # The tool answered the login itself (an error page, or something Open edX cannot
        # follow): hand the page to the test.
        result["launch"] = _page(gate)
        return result
    launch = browser.post(form["action"], data=form["fields"], allow_redirects=True,
                          timeout=30)
    result["launch"] = _page(launch)
    if spec.deep_link_form is not None and launch.status_code == 200:
        result.update(_deep_link(browser, launch, spec.deep_link_form))
    if spec.replay == "same_form":
        replay = browser.post(form["action"], data=form["fields"], allow_redirects=True,
                              timeout=30)
        result["replay"] = _page(replay)
    elif spec.replay == "fresh_login":
        other = new_browser()
        fresh, gate = _login(platform, other, tool_url, spec, {})
        if fresh is None:
            result["replay"] = _page(gate)
        else:
            replayed = {**fresh["fields"], "id_token": form["fields"]["id_token"]}
            replay = other.post(fresh["action"], data=replayed, allow_redirects=True,
                                timeout=30)
            result["replay"] = _page(replay)
    return result


def _login(platform: OpenEdxPlatform, browser, tool_url: str, spec: LaunchSpec,
           result: dict[str, Any]):
    """Login initiation up to Open edX's launch form: (form, gate page), or (None, page)
    when the browser did not get there."""
    platform.last_auth_request = {}
    # The iframe's src: Open edX renders the preflight URL and the browser GETs it.
    gate = browser.get(platform.preflight_url(tool_url, spec), allow_redirects=True,
                       timeout=30)
    result["login"] = {"history": [[r.status_code, r.url.split("?")[0]]
                                   for r in gate.history]}
    result["auth_request"] = dict(platform.last_auth_request)
    forms = parse_forms(gate.text)
    result["reached_platform"] = urlsplit(gate.url).path == LAUNCH_GATE_PATH
    if not result["reached_platform"] or gate.status_code != 200 or not forms:
        return None, gate
    form = forms[0]
    form["action"] = urljoin(gate.url, form["action"])
    result["form"] = {"action": form["action"], "method": form["method"],
                      "fields": sorted(form["fields"])}
    return form, gate


def _deep_link(browser, page, changes: dict[str, str | None]) -> dict[str, Any]:
    """The educator submits the tool's settings form; the browser then posts the tool's
    auto-submitting response form to Open edX's return URL."""
    result: dict[str, Any] = {}
    forms = [f for f in parse_forms(page.text) if f["method"] == "post"]
    if not forms:
        return {"deep_link_error": "no form to submit on the tool's page"}
    fields = dict(forms[0]["fields"])
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    answer = browser.post(urljoin(page.url, forms[0]["action"]), data=fields,
                          allow_redirects=True, timeout=30)
    result["deep_link_page"] = _page(answer)
    forms = [f for f in parse_forms(answer.text) if "JWT" in f["fields"]]
    if answer.status_code != 200 or not forms:
        return result
    action = urljoin(answer.url, forms[0]["action"])
    result["deep_link_form"] = {"action": action, "method": forms[0]["method"],
                                "fields": sorted(forms[0]["fields"])}
    returned = browser.post(action, data=forms[0]["fields"], timeout=30)
    result["deep_link_return"] = {"status": returned.status_code, "json": returned.json()}
    return result


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="openedx-platform %(levelname)s %(name)s: %(message)s")
    configure_django()
    platform = OpenEdxPlatform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(platform))
    server.daemon_threads = True
    platform.base_url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _reply({"ready": platform.urls()})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            op = command.get("op")
            if op == "quit":
                _reply({"ok": True, "result": {}})
                break
            if op != "launch":
                raise ValueError(f"unknown op {op!r}")
            spec = LaunchSpec(**command["launch"])
            if spec.sign_with not in SIGNERS:
                raise ValueError(f"sign_with: expected one of {', '.join(SIGNERS)}")
            if spec.replay not in REPLAYS:
                raise ValueError("replay: expected same_form or fresh_login")
            _reply({"ok": True,
                    "result": run_launch(platform, command["tool_url"].rstrip("/"), spec)})
        except Exception as exc:  # one failed command must not end the platform
            traceback.print_exc(file=sys.stderr)
            _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
