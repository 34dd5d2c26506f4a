"""Fixtures for the sandbox LMS tests: a sandbox app, a fake tool with a served JWKS, and a
driver that walks the launch, token and service flows through Flask's test client."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lti_tool.sandbox import SandboxConfig, create_sandbox_app
from lti_tool.sandbox.state import Sandbox

TOOL_ORIGIN = "http://tool.test"
TOOL_LOGIN = TOOL_ORIGIN + "/lti/login"
TOOL_LAUNCH = TOOL_ORIGIN + "/lti/launch"
SANDBOX_URL = "http://sandbox.test"
CLIENT_ID = "sandbox-client"
DEPLOYMENT_ID = "sandbox-deployment-1"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeTool:
    """The tool's side as far as the sandbox sees it: a key pair and a served JWKS."""

    kid = "tool-key-1"

    def __init__(self) -> None:
        self.key = _new_key()
        self.unpublished_key = _new_key()
        self.jwks_url = ""
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], *, key: Any = None, kid: str | None = "default",
             algorithm: str = "RS256") -> str:
        headers = {} if kid is None else {"kid": self.kid if kid == "default" else kid}
        return jwt.encode(claims, key or self.key, algorithm=algorithm, headers=headers or None)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/lti/jwks":
            self.fetches += 1
            response = Response(json.dumps(self.jwks()), content_type="application/json")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)


class ServerThread:
    """A werkzeug server on 127.0.0.1:0 in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def fake_tool() -> Iterator[FakeTool]:
    tool = FakeTool()
    server = ServerThread(tool.wsgi)
    tool.jwks_url = server.url + "/lti/jwks"
    yield tool
    server.stop()


@pytest.fixture(scope="session")
def sandbox_key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One platform key for the whole session: generating RSA keys per test is slow.
    path = tmp_path_factory.mktemp("sandbox-key") / "platform.pem"
    path.write_bytes(
        _new_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def cfg(sandbox_key_path: Path, fake_tool: FakeTool) -> SandboxConfig:
    return SandboxConfig(
        base_url=SANDBOX_URL, tool_login_url=TOOL_LOGIN, tool_launch_url=TOOL_LAUNCH,
        tool_jwks_url=fake_tool.jwks_url, client_id=CLIENT_ID, deployment_id=DEPLOYMENT_ID,
        key_path=sandbox_key_path, roster_size=120,
    )


@pytest.fixture
def app(cfg: SandboxConfig) -> Any:
    return create_sandbox_app(cfg)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def sandbox(app: Any) -> Sandbox:
    return app.extensions["sandbox"]


@pytest.fixture
def live_sandbox(app: Any, cfg: SandboxConfig) -> Iterator[ServerThread]:
    """The sandbox behind a real HTTP server (its issuer becomes that server's URL)."""
    server = ServerThread(app)
    cfg.base_url = server.url
    yield server
    server.stop()


class FormParser(HTMLParser):
    """Reads the first form of a page: its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}
        self.iframes: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = values.get("action")
            self.method = values.get("method")
        elif tag == "input" and values.get("name"):
            self.fields.setdefault(values["name"] or "", values.get("value") or "")
        elif tag == "iframe":
            self.iframes.append(values)


def parse_page(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


class Driver:
    """Walks the sandbox's flows the way a tool (and a browser) would."""

    def __init__(self, client: Any, sandbox: Sandbox, tool: FakeTool) -> None:
        self.client = client
        self.sandbox = sandbox
        self.tool = tool

    parse = staticmethod(parse_page)

    # -- launches ---------------------------------------------------------------------------

    def start(self, **params: str) -> dict[str, str]:
        """GET /launch/start; returns the login initiation parameters sent to the tool."""
        response = self.client.get("/launch/start", query_string=params)
        assert response.status_code == 302, response.get_data(as_text=True)
        location = urlsplit(response.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" in (
            TOOL_LOGIN, *[c["login_url"] for c in self.sandbox.all_clients()]
        )
        return dict(parse_qsl(location.query))

    def auth_params(self, login: dict[str, str], **overrides: str) -> dict[str, str]:
        client = self.sandbox.client(login["client_id"])
        assert client is not None
        params = {
            "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
            "prompt": "none", "client_id": login["client_id"],
            "redirect_uri": client["redirect_uris"][0], "login_hint": login["login_hint"],
            "lti_message_hint": login["lti_message_hint"], "nonce": "nonce-" + uuid.uuid4().hex,
            "state": "state-" + uuid.uuid4().hex,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def launch(self, **params: str) -> dict[str, Any]:
        """Start and authorize; return the posted form and the request that produced it."""
        login = self.start(**params)
        auth = self.auth_params(login)
        response = self.client.get("/auth", query_string=auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = parse_page(response.get_data(as_text=True))
        return {
            "login": login, "auth": auth, "action": page.action, "method": page.method,
            "id_token": page.fields["id_token"], "state": page.fields["state"],
            "html": response.get_data(as_text=True),
        }

    def platform_key(self, kid: str) -> Any:
        jwks = self.client.get("/jwks").get_json()
        for jwk in jwks["keys"]:
            if jwk["kid"] == kid:
                return jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        raise LookupError(kid)

    def verify(self, id_token: str, audience: str = CLIENT_ID, **options: Any) -> dict[str, Any]:
        """Verify an id_token the way a strict tool does (JWKS by kid, aud, exp, iat)."""
        header = jwt.get_unverified_header(id_token)
        return jwt.decode(
            id_token, self.platform_key(header["kid"]), algorithms=["RS256"],
            audience=audience, issuer=self.sandbox.config.issuer,
            options={"require": ["exp", "iat"]}, **options,
        )

    # -- services ---------------------------------------------------------------------------

    def assertion(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": self.sandbox.config.token_url,
            "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def request_token(self, scopes: list[str], assertion: str | None = None,
                      **form: str) -> Any:
        data = {
            "grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion or self.tool.sign(self.assertion()),
            "scope": " ".join(scopes),
        }
        data.update(form)
        return self.client.post("/token", data=data)

    def token(self, scopes: list[str]) -> str:
        response = self.request_token(scopes)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["access_token"]

    def call(self, method: str, url: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "sandbox-tests/1"}
        headers.update(kwargs.pop("headers", {}))
        path = url.replace(self.sandbox.config.issuer, "") if url.startswith("http") else url
        return self.client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def driver(client: Any, sandbox: Sandbox, fake_tool: FakeTool) -> Driver:
    return Driver(client, sandbox, fake_tool)
