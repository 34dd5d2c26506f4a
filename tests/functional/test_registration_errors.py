"""When the LMS misbehaves during dynamic registration, the admin reads what happened in
plain words with a stable code, nothing is half-registered, and the same registration URL
works again once the LMS is fixed.

The sandbox LMS's fault switches cover 5xx, 429, refusals, slow answers and dropped
connections; a small stand-in platform covers answers the sandbox never gives (not JSON,
a lying issuer, redirects, Canvas's and Moodle's own error bodies).
"""

from __future__ import annotations

import json
import re
import threading
from html import unescape

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lti_tool.persistence.models import Registration, RegistrationInvite
from lti_tool.services.registrations import create_invite, invite_url
from tests.conftest import build_app
from tests.support.live import start_stack
from tests.support.lti_client import forms_of


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"(?s)<[^>]+>", " ", html)).split())


def count(runtime, model) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).select_from(model))


def used_invites(runtime) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).select_from(RegistrationInvite)
                         .where(RegistrationInvite.used_at.is_not(None)))


# -- through the sandbox LMS's fault switches ----------------------------------------------


@pytest.fixture
def stack(backend, tool_private_key):
    made = start_stack(backend, tool_private_key, register=False, http_timeout_seconds=3)
    yield made
    made.stop()


def fault(stack, endpoint: str, kind: str, **extra) -> None:
    requests.post(f"{stack.lms_url}/control/faults", timeout=10,
                  json={"endpoint": endpoint, "kind": kind, **extra}).raise_for_status()


def frame_url(stack, variant: str = "canvas") -> str:
    with stack.runtime.session() as db:
        token, _ = create_invite(db)
    page = requests.get(f"{stack.lms_url}/register/start", timeout=10,
                        params={"variant": variant, "tool_url": invite_url(stack.tool_url,
                                                                           token)})
    return unescape(re.search(r'<iframe[^>]*\bsrc="([^"]+)"', page.text).group(1))


def confirm(http: requests.Session, stack, page: requests.Response) -> requests.Response:
    form = next(f for f in forms_of(page.text) if f["id"] == "confirm-form")
    return http.post(stack.tool_url + form["action"], data=form["fields"], timeout=30)


@pytest.mark.parametrize(("kind", "code", "says"), [
    ("500", "platform_failed", "The LMS had an error (HTTP 500)"),
    ("401", "platform_refused", "refused the registration token (HTTP 401)"),
    ("404", "platform_refused", "refused the request (HTTP 404)"),
    ("drop", "platform_unreachable", "could not reach the LMS"),
    ("slow", "platform_unreachable", "did not answer within 3 seconds"),
])
def test_a_failing_configuration_fetch_is_explained(stack, kind, code, says):
    fault(stack, "openid_configuration", kind, delay=5)

    page = requests.get(frame_url(stack), timeout=30)

    assert page.status_code == 502
    assert page.headers["X-Error-Code"] == code
    shown = text_of(page.text)
    assert says in shown
    assert "Nothing was registered" in shown
    assert "Traceback" not in page.text
    assert count(stack.runtime, Registration) == 0


def test_the_platforms_own_reason_is_quoted(stack):
    fault(stack, "openid_configuration", "500")

    page = requests.get(frame_url(stack), timeout=30)

    assert "fault switch: 500 on openid_configuration" in text_of(page.text)


@pytest.mark.parametrize(("kind", "code", "says"), [
    ("500", "platform_failed", "The LMS had an error (HTTP 500)"),
    ("429", "platform_busy", "The LMS is busy (HTTP 429)"),
    ("403", "platform_refused", "refused the registration token (HTTP 403)"),
    ("drop", "platform_unreachable", "could not reach the LMS"),
])
def test_a_failed_registration_leaves_nothing_behind_and_can_be_retried(stack, kind, code,
                                                                         says):
    http = requests.Session()
    url = frame_url(stack)
    page = http.get(url, timeout=30)
    assert page.status_code == 200
    fault(stack, "register", kind)

    failed = confirm(http, stack, page)

    assert failed.status_code == 502
    assert failed.headers["X-Error-Code"] == code
    assert says in text_of(failed.text)
    assert count(stack.runtime, Registration) == 0
    assert used_invites(stack.runtime) == 0

    retried = confirm(http, stack, http.get(url, timeout=30))

    assert retried.status_code == 200, text_of(retried.text)[:300]
    assert count(stack.runtime, Registration) == 1
    assert used_invites(stack.runtime) == 1


# -- through a stand-in platform -----------------------------------------------------------


class FakePlatform:
    """A platform whose configuration and registration answers a test chooses."""

    def __init__(self) -> None:
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.config_answer: Response | None = None
        self.register_answer: Response | None = None
        self.issuer = self.url
        self.extra: dict = {}
        self.received: list[dict] = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def configuration(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url + "/auth",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "registration_endpoint": self.url + "/register",
            "scopes_supported": ["openid"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "moodle", "version": "4.5",
                "messages_supported": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
            },
            **self.extra,
        }

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path == "/config":
            answer = self.config_answer or Response(json.dumps(self.configuration()),
                                                    content_type="application/json")
        elif request.path == "/register":
            self.received.append({"authorization": request.headers.get("Authorization"),
                                  "body": request.get_json(silent=True)})
            answer = self.register_answer or Response(json.dumps({
                "client_id": "fake-client",
                "https://purl.imsglobal.org/spec/lti-tool-configuration": {
                    "deployment_id": 42},
            }), content_type="application/json")
        else:
            answer = Response("not found", 404)
        return answer(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform():
    made = FakePlatform()
    yield made
    made.stop()


@pytest.fixture
def tool(sqlite_backend, tool_private_key):
    app = build_app(sqlite_backend, tool_private_key, allow_private_registration_urls=True)
    yield app
    for cleanup in sqlite_backend.cleanups:
        cleanup()


def start(tool, platform, token: str | None = "reg-token") -> tuple:
    runtime = tool.extensions["lti_tool"]
    with runtime.session() as db:
        invite, _ = create_invite(db)
    client = tool.test_client()
    query = {"invite": invite, "openid_configuration": platform.url + "/config"}
    if token:
        query["registration_token"] = token
    return client, client.get("/lti/register", query_string=query)


def post_confirm(client, page) -> object:
    html = page.get_data(as_text=True)
    form = next(f for f in forms_of(html) if f["id"] == "confirm-form")
    return client.post(form["action"], data=form["fields"])


@pytest.mark.parametrize(("answer", "code", "says"), [
    (Response("<html><body>Gateway</body></html>", content_type="text/html"),
     "platform_invalid_response", "did not answer with JSON"),
    (Response("[1, 2]", content_type="application/json"),
     "platform_invalid_response", "not a JSON object"),
    (Response("", status=302, headers={"Location": "http://169.254.169.254/"}),
     "platform_redirected", "answered with a redirect (HTTP 302)"),
    (Response("<html><h1>Internal Server Error</h1><pre>secret stack</pre></html>",
              status=500, content_type="text/html"),
     "platform_failed", "The LMS had an error (HTTP 500)."),
])
def test_answers_that_are_not_a_configuration_are_refused(tool, platform, answer, code, says):
    platform.config_answer = answer

    _, page = start(tool, platform)

    assert page.status_code == 502
    assert page.headers["X-Error-Code"] == code
    shown = text_of(page.get_data(as_text=True))
    assert says in shown
    assert "secret stack" not in shown  # an HTML error page is not quoted


def test_a_configuration_whose_issuer_is_another_site_is_refused(tool, platform):
    platform.issuer = "https://canvas.instructure.com"

    _, page = start(tool, platform)

    assert page.status_code == 400
    assert page.headers["X-Error-Code"] == "registration_issuer_mismatch"
    shown = text_of(page.get_data(as_text=True))
    assert "https://canvas.instructure.com" in shown and platform.url in shown
    assert platform.received == []


def test_the_registration_token_travels_as_a_bearer(tool, platform):
    client, page = start(tool, platform, token="tok-123")
    done = post_confirm(client, page)

    assert done.status_code == 200
    assert platform.received[0]["authorization"] == "Bearer tok-123"
    runtime = tool.extensions["lti_tool"]
    with runtime.session() as db:
        row = db.scalar(select(Registration))
        assert row.client_id == "fake-client"
        assert [(d.deployment_id, d.active) for d in row.deployments] == [("42", True)]


@pytest.mark.parametrize(("answer", "code", "says"), [
    # Canvas answers invalid registrations with 422 and a list of errors.
    (Response(json.dumps({"errors": ["redirect_uris must be https"]}), status=422,
              content_type="application/json"),
     "platform_refused", "(HTTP 422). The LMS said: \u201credirect_uris must be https\u201d"),
    # Moodle answers with the bare reason as text.
    (Response("token_already_used", status=401, content_type="text/plain"),
     "platform_refused", "The LMS said: \u201ctoken_already_used\u201d"),
    (Response(json.dumps({"error": "invalid_client_metadata",
                          "error_description": "scope not allowed"}), status=400,
              content_type="application/json"),
     "platform_refused", "\u201cscope not allowed\u201d"),
    (Response(json.dumps({"scope": ""}), content_type="application/json"),
     "platform_invalid_response", "no client id"),
])
def test_the_platforms_refusal_of_the_registration_is_explained(tool, platform, answer, code,
                                                                 says):
    platform.register_answer = answer
    client, page = start(tool, platform)

    failed = post_confirm(client, page)

    assert failed.status_code == 502
    assert failed.headers["X-Error-Code"] == code
    assert says in text_of(failed.get_data(as_text=True))
    runtime = tool.extensions["lti_tool"]
    assert count(runtime, Registration) == 0
    assert used_invites(runtime) == 0


@pytest.mark.parametrize(("authorization_server", "stored"), [
    (None, None),
    ("canvas.instructure.com", None),  # not a URL: the token URL stays the audience
    ("https://lms.example.org/oauth2/aud", "https://lms.example.org/oauth2/aud"),
])
def test_the_token_audience_comes_from_authorization_server(tool, platform,
                                                            authorization_server, stored):
    if authorization_server:
        platform.extra["authorization_server"] = authorization_server
    client, page = start(tool, platform)
    assert post_confirm(client, page).status_code == 200
    runtime = tool.extensions["lti_tool"]
    with runtime.session() as db:
        row = db.scalar(select(Registration))
        assert row.token_audience == stored
        assert row.auth_token_url == platform.url + "/token"
