"""A stand-in LTI platform for the launch tests: its keys, a JWKS served over real HTTP,
id_tokens signed here, and a driver for login -> launch through Flask's test client.

The key set is fetched by the tool over HTTP from a tiny werkzeug server on an ephemeral
port (no monkeypatching), so caching, refetching and rate limits are what production does.
"""

from __future__ import annotations

import threading
import time
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lti_tool.lti.claims import Claim
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Deployment, Registration

TOOL_URL = "http://localhost"  # base_url of tests/conftest.py's app
LAUNCH_URL = TOOL_URL + "/lti/launch"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

_keys: list[rsa.RSAPrivateKey] = []
_keys_lock = threading.Lock()


def platform_key(index: int) -> rsa.RSAPrivateKey:
    """One of a few RSA keys shared by the whole run (generating one costs ~60 ms)."""
    with _keys_lock:
        while len(_keys) <= index:
            _keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _keys[index]


class JwksServer:
    """Serves ``/<name>/jwks`` for every platform of the run, and counts the fetches."""

    def __init__(self) -> None:
        self.key_sets: dict[str, dict[str, Any]] = {}
        self.fetches: dict[str, int] = {}
        self.failing: set[str] = set()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _app(self, environ, start_response):
        request = Request(environ)
        name = request.path.strip("/").removesuffix("/jwks")
        if name not in self.key_sets:
            return Response("not found", 404)(environ, start_response)
        self.fetches[name] = self.fetches.get(name, 0) + 1
        if name in self.failing:
            return Response("platform down", 503)(environ, start_response)
        return Response(_json(self.key_sets[name]), 200,
                        content_type="application/json")(environ, start_response)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


_server: JwksServer | None = None
_server_lock = threading.Lock()


def jwks_server() -> JwksServer:
    """The run's JWKS server, started on first use."""
    global _server
    with _server_lock:
        if _server is None:
            _server = JwksServer()
        return _server


class FakePlatform:
    """One platform (issuer) with its own keys and key set URL."""

    def __init__(self, client_id: str = "client-1", deployment_id: str = "deployment-1") -> None:
        self.name = uuid.uuid4().hex[:12]
        self.issuer = f"https://lms-{self.name}.example.org"
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.keys: dict[str, rsa.RSAPrivateKey] = {"key-1": platform_key(0)}
        self.server = jwks_server()
        self.jwks_url = f"{self.server.url}/{self.name}/jwks"
        self.publish("key-1")

    # -- the key set the platform publishes ---------------------------------------------
    def publish(self, *kids: str) -> None:
        """Publish exactly ``kids`` (each must be in ``keys``)."""
        published = []
        for kid in kids:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
            published.append(jwk)
        self.server.key_sets[self.name] = {"keys": published}

    def add_key(self, kid: str, index: int = 1) -> None:
        self.keys[kid] = platform_key(index)

    @property
    def fetches(self) -> int:
        """How many times the tool fetched this platform's key set."""
        return self.server.fetches.get(self.name, 0)

    def set_down(self, down: bool = True) -> None:
        (self.server.failing.add if down else self.server.failing.discard)(self.name)

    # -- id_tokens ----------------------------------------------------------------------
    def claims(self, nonce: str, /, **changes: Any) -> dict[str, Any]:
        """A valid resource link launch body; ``changes`` replace claims (None removes
        one). Keyword names are claim names with ``Claim`` members' names accepted too
        (``roles=[...]`` sets the LTI roles claim)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "learner-sub-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.org",
            Claim.MESSAGE_TYPE: "LtiResourceLinkRequest",
            Claim.VERSION: "1.3.0",
            Claim.DEPLOYMENT_ID: self.deployment_id,
            Claim.TARGET_LINK_URI: LAUNCH_URL,
            Claim.ROLES: [MEMBERSHIP + "Learner"],
            Claim.RESOURCE_LINK: {"id": "link-1", "title": "Service improvement"},
            Claim.CONTEXT: {"id": "course-1", "label": "SI101",
                            "title": "Improving services", "type": ["CourseOffering"]},
        }
        for key, value in changes.items():
            name = Claim[key.upper()].value if key.upper() in Claim.__members__ else key
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    def sign(self, body: dict[str, Any], *, kid: str | None = "key-1", key: Any = None,
             algorithm: str = "RS256", headers: dict[str, Any] | None = None) -> str:
        """An id_token: ``body`` signed with ``keys[kid]`` (or ``key``), kid in the header."""
        header = dict(headers or {})
        if kid is not None:
            header["kid"] = kid
        # An unpublished kid still signs with a real key (the platform's first).
        signing_key = key if key is not None else self.keys.get(kid or "", self.keys["key-1"])
        return jwt.encode(body, signing_key, algorithm=algorithm, headers=header or None)


def register(dbs, platform: FakePlatform, *, client_id: str | None = None,
             policy: str = "hold", enabled: bool = True,
             deployments: dict[str, bool] | None = None) -> Registration:
    """Register ``platform`` with the tool (committed); ``deployments`` maps id -> active."""
    now = utcnow()
    registration = Registration(
        name=f"LMS {platform.name}", issuer=platform.issuer,
        client_id=client_id or platform.client_id,
        auth_login_url=platform.issuer + "/auth", auth_token_url=platform.issuer + "/token",
        key_set_url=platform.jwks_url, deployment_policy=policy, enabled=enabled,
        created_at=now,
    )
    dbs.add(registration)
    dbs.flush()
    if deployments is None:
        deployments = {platform.deployment_id: True}
    for deployment_id, active in deployments.items():
        dbs.add(Deployment(registration_id=registration.id, deployment_id=deployment_id,
                           active=active, first_seen_at=now,
                           activated_at=now if active else None))
    dbs.commit()
    return registration


class Driver:
    """Walks login -> (platform auth, done here) -> launch with one browser (client)."""

    def __init__(self, client, platform: FakePlatform) -> None:
        self.client = client
        self.platform = platform

    def login_params(self, **changes: Any) -> dict[str, str]:
        params = {"iss": self.platform.issuer, "login_hint": "hint-1",
                  "target_link_uri": LAUNCH_URL, "lti_message_hint": "message-hint-1",
                  "client_id": self.platform.client_id}
        params.update(changes)
        return {k: v for k, v in params.items() if v is not None}

    def login(self, method: str = "get", **changes: Any):
        """Run the login; returns (response, auth request query) (query empty on error)."""
        params = self.login_params(**changes)
        if method == "get":
            response = self.client.get("/lti/login", query_string=params)
        else:
            response = self.client.post("/lti/login", data=params)
        return response, self.login_query(response)

    @staticmethod
    def login_query(response) -> dict[str, str]:
        """The query of the authorization request a login redirected to (or {})."""
        if response.status_code != 302:
            return {}
        return {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}

    def start(self, **login_changes: Any) -> tuple[str, str]:
        """A successful login: (state, nonce)."""
        response, query = self.login(**login_changes)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return query["state"], query["nonce"]

    def post_launch(self, state: str | None, id_token: str | None, **extra: str):
        data = {k: v for k, v in {"state": state, "id_token": id_token, **extra}.items()
                if v is not None}
        return self.client.post("/lti/launch", data=data)

    def launch(self, *, sign: dict[str, Any] | None = None, **claim_changes: Any):
        """Log in, then post an id_token for that login; returns the launch response."""
        state, nonce = self.start()
        token = self.platform.sign(self.platform.claims(nonce, **claim_changes), **(sign or {}))
        return self.post_launch(state, token)


def error_code(response) -> str | None:
    """The stable error code the tool answered with (header set on every error page)."""
    return response.headers.get("X-Error-Code")


def launch_session_id(response) -> str:
    """The ``ls`` of the page a successful launch redirects to."""
    assert response.status_code == 303, (response.status_code, error_code(response))
    return parse_qs(urlsplit(response.location).query)["ls"][0]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action"),
                               "method": (attributes.get("method") or "get").lower(),
                               "target": attributes.get("target"), "fields": {}})
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    """The forms of a page: action, method, target and named input values."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms
