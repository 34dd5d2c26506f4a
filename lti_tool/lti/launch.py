"""OIDC login and id_token launch, on PyLTI1p3 with every weak step replaced.

PyLTI1p3 gives the shape (``OIDCLogin``, ``MessageLaunch`` and its ``validate()`` chain,
``ToolConfAbstract``); this module replaces the steps it does not do safely by itself
(see ../shared/FACTS.md):

- state and nonce live in the shared store (Redis or the database, never process memory
  or the Flask session); the state is single use and bound to the browser by a
  ``SameSite=None; Secure; Partitioned`` cookie, set whatever ``request.is_secure`` says
  (behind a TLS-terminating proxy too); the nonce is bound to the state;
- the id_token is RS256 only, names its ``kid``, and is checked against the platform's key
  set cached in the shared store, fetched again once on an unknown kid (rate-limited per
  registration); ``iss``, ``aud`` (and ``azp``), ``exp`` and ``iat`` with a small leeway;
  it is single use;
- the registration must be enabled and the deployment known and active (unknown ones are
  recorded, then held or accepted by the registration's policy);
- every claim the tool reads is typed by a marshmallow schema (``claims.py``).

Every refusal raises ``LaunchError`` with a stable code (``errors.py``).

Order matters on SQLite: every write to the shared store happens before the request's
database session writes anything, so the two never wait on each other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from jwt.algorithms import RSAAlgorithm
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lti_tool.lti.claims import (
    Claim,
    ClaimsError,
    LaunchClaims,
    UnsupportedMessageType,
    parse_claims,
)
from lti_tool.lti.errors import LaunchError
from lti_tool.lti.toolconf import DatabaseToolConf, ToolRegistration
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Deployment, Registration
from lti_tool.settings import Settings

log = logging.getLogger("lti_tool.lti.launch")

LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id",
                "lti_deployment_id")
RELAUNCH_PARAM = "relaunch"
STATE_COOKIE_PREFIX = "lti_state_"
ALGORITHM = "RS256"

_STATE_KEY = "lti:state:"
_RELAUNCH_KEY = "lti:relaunch:"
_USED_TOKEN_KEY = "lti:id-token:"
_KEY_SET_KEY = "lti:key-set:"
_KEY_SET_REFETCH_KEY = "lti:key-set-refetch:"
# PyJWT >= 2.10 checks that sub is a string (jwt.exceptions only, not re-exported).
_INVALID_SUBJECT = getattr(jwt.exceptions, "InvalidSubjectError", ())
# A platform key set is a few keys; anything this large is not one.
_MAX_KEY_SET_BYTES = 256 * 1024


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def state_cookie_name(state: str) -> str:
    """One cookie per login, so two launches in one page (two iframes) never collide."""
    return STATE_COOKIE_PREFIX + _digest(state)[:16]


def cookie_path(settings: Settings) -> str:
    """``/lti/`` under the tool's base URL path (the login and launch URLs only)."""
    return urlsplit(settings.base_url).path.rstrip("/") + "/lti/"


@dataclass(frozen=True)
class StateCookie:
    """A cookie to set (``value``) or to clear (``value`` None) on the response."""

    name: str
    value: str | None
    max_age: int
    path: str

    def apply(self, response: Any) -> None:
        """Write the cookie onto a Flask/Werkzeug response.

        ``Secure`` and ``SameSite=None`` always (never from ``request.is_secure``, which is
        false behind a TLS-terminating proxy without ProxyFix), and ``Partitioned``:
        Chromium sends no unpartitioned third-party cookie into an LMS iframe.
        """
        attributes = dict(path=self.path, secure=True, httponly=True, samesite="None",
                          partitioned=True)
        if self.value is None:
            response.delete_cookie(self.name, **attributes)
        else:
            response.set_cookie(self.name, self.value, max_age=self.max_age, **attributes)


# -- adapters pylti1p3 asks for ---------------------------------------------------------


class ParamsRequest(Request):
    """The login or launch parameters of the current request, for pylti1p3."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params

    @property
    def session(self):
        raise NotImplementedError("the tool keeps no launch state in a session")

    def is_secure(self) -> bool:
        # Only used by pylti1p3 to choose cookie attributes, which the tool sets itself.
        return True

    def get_param(self, key: str) -> str | None:  # type: ignore[override]
        value = self._params.get(key)
        return value if isinstance(value, str) and value else None


class StateCookieService(CookieService):
    """Reads the browser's state cookies; collects the ones to set on the response."""

    def __init__(self, cookies: Mapping[str, str], path: str, max_age: int) -> None:
        self._cookies = cookies
        self.path = path
        self.max_age = max_age
        self.pending: list[StateCookie] = []

    def get_cookie(self, name: str) -> str | None:
        return self._cookies.get(name)

    def set_cookie(self, name: str, value: str | int, exp: int | None = None) -> None:
        self.pending.append(StateCookie(name, str(value), exp or self.max_age, self.path))

    def clear_cookie(self, name: str) -> None:
        self.pending.append(StateCookie(name, None, 0, self.path))


class NoSessionService(SessionService):
    """pylti1p3 wants a session service; the tool keeps state in the shared store instead.

    Any use of it is a bug: it would put launch state in one process or one cookie.
    """

    def __init__(self) -> None:  # no SessionDataStorage, no Flask session
        pass

    def __getattribute__(self, name: str):
        if name.startswith(("save_", "get_", "check_", "set_")):
            raise NotImplementedError(f"SessionService.{name}: use the shared store")
        return object.__getattribute__(self, name)


class LoginRedirect(Redirect):
    """The GET redirect to the platform's authorization endpoint, with the state cookie."""

    def __init__(self, location: str, cookies: StateCookieService) -> None:
        self._location = location
        self._cookies = cookies

    def do_redirect(self):
        from flask import redirect

        response = redirect(self._location, 302)
        for cookie in self._cookies.pending:
            cookie.apply(response)
        return response

    def do_js_redirect(self):
        # A GET redirect always: Moodle's Lax session cookie is not sent on a cross-site POST.
        raise NotImplementedError("the authorization request is a GET redirect")

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


# -- login ------------------------------------------------------------------------------


@dataclass
class LoginState:
    """What a login leaves in the shared store, under its state, until the launch."""

    registration_id: int
    nonce: str
    browser_digest: str
    login: dict[str, str] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({"registration_id": self.registration_id, "nonce": self.nonce,
                           "browser": self.browser_digest, "login": self.login})

    @classmethod
    def loads(cls, text: str) -> LoginState:
        data = json.loads(text)
        return cls(int(data["registration_id"]), str(data["nonce"]), str(data["browser"]),
                   dict(data.get("login") or {}))


def login_params(values: Mapping[str, str]) -> dict[str, str]:
    """The OIDC login initiation parameters the tool keeps (non-empty strings only)."""
    return {key: values[key] for key in LOGIN_PARAMS
            if isinstance(values.get(key), str) and values[key]}


def is_own_url(url: str, settings: Settings) -> bool:
    """Whether ``url`` is on the tool's base URL (same scheme, host, port, path prefix)."""
    target, base = urlsplit(url), urlsplit(settings.base_url)
    if (target.scheme.lower(), target.netloc.lower()) != (base.scheme.lower(),
                                                          base.netloc.lower()):
        return False
    prefix = base.path.rstrip("/")
    return target.path == prefix or target.path.startswith(prefix + "/") or not prefix


class ToolOIDCLogin(OIDCLogin):
    """OIDC third-party initiated login: find the registration, create a bound state."""

    def __init__(self, params: Mapping[str, str], tool_conf: DatabaseToolConf, store: Any,
                 settings: Settings) -> None:
        self.settings = settings
        self.store = store
        self.cookies = StateCookieService({}, cookie_path(settings),
                                          settings.login_state_seconds)
        super().__init__(ParamsRequest(params), tool_conf, NoSessionService(), self.cookies)
        self.params = login_params(params)
        self.registration_row: Registration | None = None

    def get_redirect(self, url: str) -> LoginRedirect:
        return LoginRedirect(url, self.cookies)

    def validate_oidc_login(self) -> ToolRegistration:
        """Check the initiation parameters and find an enabled registration."""
        for name in ("iss", "login_hint", "target_link_uri"):
            if name not in self.params:
                raise LaunchError("login_param_missing", f"no {name}", param=name)
        if not is_own_url(self.params["target_link_uri"], self.settings):
            raise LaunchError("login_target_invalid", "target_link_uri not on base_url")
        conf: DatabaseToolConf = self._tool_config
        issuer, client_id = self.params["iss"], self.params.get("client_id")
        if issuer.endswith("/") and not conf.registrations_of_issuer(issuer):
            # Registrations keep issuers without a trailing slash; some platforms add one.
            issuer = issuer.rstrip("/")
        if client_id:
            row = conf.registration_row(issuer, client_id)
        else:
            rows = conf.registrations_of_issuer(issuer)
            if len(rows) > 1:
                raise LaunchError("client_id_required", "issuer has several registrations",
                                  extra={"issuer": issuer})
            row = rows[0] if rows else None
        if row is None:
            raise LaunchError("registration_unknown", "no registration for login",
                              extra={"issuer": issuer, "client_id": client_id or ""})
        if not row.enabled:
            raise LaunchError("registration_disabled", f"registration {row.id} disabled")
        self.registration_row = row
        return conf.registration(row)

    def _prepare_redirect_url(self, launch_url: str) -> str:
        registration = self.validate_oidc_login()
        self._registration = registration
        row = self.registration_row
        assert row is not None
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        browser_token = secrets.token_urlsafe(32)
        entry = LoginState(row.id, nonce, _digest(browser_token), self.params)
        self.store.set(_STATE_KEY + _digest(state), entry.dumps(),
                       self.settings.login_state_seconds)
        self.cookies.set_cookie(state_cookie_name(state), browser_token)
        auth_params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": row.client_id,
            "redirect_uri": launch_url,
            "login_hint": self.params["login_hint"],
            "state": state,
            "nonce": nonce,
        }
        if "lti_message_hint" in self.params:
            auth_params["lti_message_hint"] = self.params["lti_message_hint"]
        separator = "&" if "?" in row.auth_login_url else "?"
        return row.auth_login_url + separator + urlencode(auth_params)


def begin_login(values: Mapping[str, str], tool_conf: DatabaseToolConf, store: Any,
                settings: Settings):
    """Answer an OIDC login initiation (GET or POST) with the redirect to the platform.

    ``values`` holds the request's parameters; with ``relaunch`` it holds only the
    single-use token of a launch whose cookie the browser refused, and the original
    parameters come back from the store. Raises ``LaunchError``.
    """
    relaunch = values.get(RELAUNCH_PARAM)
    if relaunch:
        saved = store.pop(_RELAUNCH_KEY + _digest(relaunch))
        if saved is None:
            raise LaunchError("relaunch_expired", "relaunch token unknown or used")
        values = json.loads(saved)
    login = ToolOIDCLogin(values, tool_conf, store, settings)
    return login.redirect(settings.url("/lti/launch"))


# -- platform key sets ------------------------------------------------------------------


class PlatformKeySets:
    """Platform public keys, cached in the shared store; refetched once on an unknown kid.

    A platform that rotates its keys (D2L does hourly) signs with a kid the cache does not
    know: fetch the key set again, but at most once per ``key_set_refetch_seconds`` per
    registration, so forged kids cannot make the tool hammer the platform.
    """

    def __init__(self, store: Any, http: requests.Session, settings: Settings) -> None:
        self.store = store
        self.http = http
        self.settings = settings

    def public_key(self, registration: Registration, kid: str):
        """The RSA public key ``kid`` of ``registration``'s platform, or ``LaunchError``."""
        url = registration.key_set_url
        cached = self.store.get(_KEY_SET_KEY + _digest(url))
        fetched = cached is None
        keys = self._fetch(url) if fetched else json.loads(cached)
        jwk = _find_key(keys, kid)
        if jwk is None and not fetched and self.store.add(
            _KEY_SET_REFETCH_KEY + str(registration.id), "1",
            self.settings.key_set_refetch_seconds,
        ):
            log.info("unknown kid: fetching the platform key set again",
                     extra={"registration_id": registration.id})
            keys = self._fetch(url)
            jwk = _find_key(keys, kid)
        if jwk is None:
            raise LaunchError("launch_kid_unknown", "kid not in the platform key set",
                              extra={"kid": kid[:100]})
        if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get(
                "use", "sig") != "sig":
            raise LaunchError("launch_algorithm_invalid", "platform key is not an RS256 key")
        try:
            key = RSAAlgorithm.from_jwk({k: v for k, v in jwk.items() if k != "d"})
        except (jwt.InvalidKeyError, ValueError, TypeError, KeyError, AttributeError):
            raise LaunchError("launch_signature_invalid", "platform key malformed") from None
        return key

    def _fetch(self, url: str) -> list[dict[str, Any]]:
        try:
            response = self.http.get(url, timeout=self.settings.http_timeout_seconds,
                                      stream=True, headers={"Accept": "application/json"})
            with response:
                body = response.raw.read(_MAX_KEY_SET_BYTES + 1, decode_content=True)
                status = response.status_code
        except requests.RequestException as error:
            raise LaunchError("platform_key_set_unavailable",
                              f"key set fetch failed: {type(error).__name__}") from None
        if status != 200 or len(body) > _MAX_KEY_SET_BYTES:
            raise LaunchError("platform_key_set_unavailable", f"key set answered {status}")
        try:
            data = json.loads(body)
            keys = data["keys"]
            if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise LaunchError("platform_key_set_unavailable", "key set is not a JWKS") from None
        self.store.set(_KEY_SET_KEY + _digest(url), json.dumps(keys),
                       self.settings.key_set_cache_seconds)
        return keys


def _find_key(keys: list[dict[str, Any]], kid: str) -> dict[str, Any] | None:
    return next((key for key in keys if key.get("kid") == kid), None)


# -- launch -----------------------------------------------------------------------------


@dataclass
class VerifiedLaunch:
    """A launch that passed every check."""

    registration: Registration
    deployment: Deployment
    claims: LaunchClaims


class ToolMessageLaunch(MessageLaunch):
    """pylti1p3's ``MessageLaunch`` with every check done by the tool's rules.

    Use ``verify()``; it returns a ``VerifiedLaunch`` or raises ``LaunchError``. Cookies to
    set or clear on the response are in ``cookies.pending`` either way.
    """

    def __init__(self, form: Mapping[str, str], cookies: Mapping[str, str],
                 tool_conf: DatabaseToolConf, store: Any, http: requests.Session,
                 settings: Settings) -> None:
        self.settings = settings
        self.store = store
        self.key_sets = PlatformKeySets(store, http, settings)
        self.cookies = StateCookieService(cookies, cookie_path(settings),
                                          settings.login_state_seconds)
        super().__init__(ParamsRequest(form), tool_conf, session_service=NoSessionService(),
                         cookie_service=self.cookies, requests_session=http)
        self.login_state: LoginState | None = None
        self.registration_row: Registration | None = None
        self.deployment_row: Deployment | None = None
        self.claims: LaunchClaims | None = None

    def _get_request_param(self, key: str) -> str | None:  # type: ignore[override]
        return self._request.get_param(key)

    # The chain, in the order that gives each refusal its most useful code.
    def validate(self) -> ToolMessageLaunch:
        self._validated = True
        try:
            return (
                self.validate_state()
                .validate_jwt_format()
                .validate_registration()
                .validate_jwt_signature()
                .validate_single_use()
                .validate_nonce()
                .validate_message()
                .validate_deployment()
            )
        except Exception:
            self._validated = False
            raise

    def verify(self) -> VerifiedLaunch:
        """Run every check; the verified launch, or ``LaunchError``."""
        try:
            self.validate()
        except LaunchError:
            raise
        except LtiException as error:
            # A step pylti1p3 still runs itself (JWT format) refused the token.
            raise LaunchError("launch_token_invalid", str(error)[:200]) from None
        assert self.registration_row and self.deployment_row and self.claims
        return VerifiedLaunch(self.registration_row, self.deployment_row, self.claims)

    def validate_state(self) -> ToolMessageLaunch:
        """The state is single use and must come back to the browser that logged in."""
        error = self._get_request_param("error")
        if error:
            # The platform answered the authorization request with an OIDC error.
            raise LaunchError("launch_platform_error", f"platform error {error[:50]}",
                              error=error[:50])
        state = self._get_request_param("state")
        if not state or len(state) > 200:
            raise LaunchError("launch_state_invalid", "no state")
        cookie_name = state_cookie_name(state)
        saved = self.store.pop(_STATE_KEY + _digest(state))
        if saved is None:
            raise LaunchError("launch_state_invalid", "state unknown, expired or used")
        entry = LoginState.loads(saved)
        self.cookies.clear_cookie(cookie_name)
        browser_token = self.cookies.get_cookie(cookie_name)
        if browser_token is None:
            # The browser refused (or never sent) the cookie. The id_token cannot be trusted
            # to belong to this browser; start the login again first-party instead.
            token = secrets.token_urlsafe(32)
            self.store.set(_RELAUNCH_KEY + _digest(token), json.dumps(entry.login),
                           self.settings.login_state_seconds)
            raise LaunchError("launch_cookie_blocked", "state cookie missing",
                              extra={RELAUNCH_PARAM: token})
        if not hmac.compare_digest(_digest(browser_token), entry.browser_digest):
            raise LaunchError("launch_state_invalid", "state cookie does not match")
        self.login_state = entry
        return self

    def validate_jwt_format(self) -> ToolMessageLaunch:
        if not self._get_request_param("id_token"):
            raise LaunchError("launch_claim_missing", "no id_token", claim="id_token")
        super().validate_jwt_format()
        header, body = self._jwt.get("header"), self._jwt.get("body")
        if not isinstance(header, dict) or not isinstance(body, dict):
            raise LaunchError("launch_token_invalid", "header or body not a JSON object")
        return self

    def validate_registration(self) -> ToolMessageLaunch:
        """The registration is the one the login found (by issuer and client id)."""
        assert self.login_state is not None
        conf: DatabaseToolConf = self._tool_config
        row = conf.session.get(Registration, self.login_state.registration_id)
        if row is None:
            raise LaunchError("registration_unknown", "registration removed since login")
        if not row.enabled:
            raise LaunchError("registration_disabled", f"registration {row.id} disabled")
        if self._jwt["body"].get(Claim.ISSUER) not in issuer_forms(row):
            raise LaunchError("launch_issuer_invalid", "iss is not the registration's issuer")
        self.registration_row = row
        self._registration = conf.registration(row)
        return self

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        """RS256 with a named key of the platform; iss, aud/azp, exp and iat checked."""
        row = self.registration_row
        assert row is not None
        header = self._jwt["header"]
        if header.get("alg") != ALGORITHM:
            raise LaunchError("launch_algorithm_invalid", f"alg {str(header.get('alg'))[:20]}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise LaunchError("launch_kid_missing", "no kid in the JWT header")
        key = self.key_sets.public_key(row, kid)
        try:
            body = jwt.decode(
                self._get_id_token(), key, algorithms=[ALGORITHM], audience=row.client_id,
                issuer=issuer_forms(row), leeway=self.settings.jwt_leeway_seconds,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.MissingRequiredClaimError as error:
            raise LaunchError("launch_claim_missing", f"no {error.claim}",
                              claim=error.claim) from None
        except jwt.ExpiredSignatureError:
            raise LaunchError("launch_expired", "exp passed") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise LaunchError("launch_time_invalid", "iat (or nbf) not valid") from None
        except jwt.InvalidAudienceError:
            raise LaunchError("launch_audience_invalid", "aud lacks the client id") from None
        except jwt.InvalidIssuerError:
            raise LaunchError("launch_issuer_invalid", "iss differs") from None
        except _INVALID_SUBJECT:
            # PyJWT checks that sub is a string; the claims schema would say the same.
            raise LaunchError("launch_claim_invalid", "sub not a string", claim="sub",
                              extra={"claim": "sub"}) from None
        except jwt.InvalidSignatureError:
            raise LaunchError("launch_signature_invalid", "signature mismatch") from None
        except jwt.InvalidTokenError as error:
            raise LaunchError("launch_token_invalid", type(error).__name__) from None
        audiences = body["aud"] if isinstance(body["aud"], list) else [body["aud"]]
        azp = body.get(Claim.AUTHORIZED_PARTY)
        if (len(audiences) > 1 or azp is not None) and azp != row.client_id:
            # OIDC Core 3.1.3.7: azp is required with several audiences and must be us.
            raise LaunchError("launch_audience_invalid", "azp missing or not the client id")
        # From here on only what the signature covers is read.
        self._jwt["body"] = body
        return self

    def validate_single_use(self) -> ToolMessageLaunch:
        """An id_token is accepted once, ever (kept until it would have expired anyway)."""
        body = self._jwt["body"]
        ttl = int(body["exp"] - time.time()) + self.settings.jwt_leeway_seconds + 1
        digest = _digest(self._get_id_token())
        if not self.store.add(_USED_TOKEN_KEY + digest, "1", max(1, ttl)):
            raise LaunchError("launch_replayed", "id_token already used")
        return self

    def validate_nonce(self) -> ToolMessageLaunch:
        """The nonce is the one this login created (and so used once, like its state)."""
        assert self.login_state is not None
        nonce = self._jwt["body"].get(Claim.NONCE)
        if nonce is None or nonce == "":
            raise LaunchError("launch_claim_missing", "no nonce", claim="nonce")
        if not isinstance(nonce, str):
            raise LaunchError("launch_claim_invalid", "nonce not a string", claim="nonce")
        if not hmac.compare_digest(nonce.encode(), self.login_state.nonce.encode()):
            raise LaunchError("launch_nonce_invalid", "nonce is not the login's")
        return self

    def validate_message(self) -> ToolMessageLaunch:
        """Every claim the tool reads is present and well typed."""
        try:
            self.claims = parse_claims(self._jwt["body"])
        except UnsupportedMessageType as error:
            raise LaunchError("launch_message_type_unsupported", "message type unsupported",
                              message_type=error.message_type[:60]) from None
        except ClaimsError as error:
            code = "launch_claim_missing" if error.missing else "launch_claim_invalid"
            raise LaunchError(code, f"{error.claim}: {error.reason}"[:200],
                              claim=error.claim, extra={"claim": error.claim}) from None
        return self

    def validate_deployment(self) -> ToolMessageLaunch:
        """The deployment must be known and active; an unknown one is recorded.

        Under the ``hold`` policy it waits for an admin (403 with the command that
        activates it); under ``accept`` it is activated at once.
        """
        row, claims = self.registration_row, self.claims
        assert row is not None and claims is not None
        conf: DatabaseToolConf = self._tool_config
        deployment = conf.deployment_row(row, claims.deployment_id)
        recorded = False
        if deployment is None:
            deployment = record_deployment(conf.session, row, claims.deployment_id,
                                           active=row.deployment_policy == "accept")
            recorded = True
            log.info("new deployment recorded", extra={
                "registration_id": row.id, "deployment_active": deployment.active})
        if not deployment.active:
            raise LaunchError(
                "deployment_not_active", f"deployment {deployment.id} not active",
                commit=recorded, deployment_id=claims.deployment_id[:100],
                extra={"command": activation_command(row, claims.deployment_id)},
            )
        self.deployment_row = deployment
        return self

    def save_launch_data(self) -> ToolMessageLaunch:
        # Launch data becomes a LaunchSession row (services.launches), not session data.
        return self


def issuer_forms(registration: Registration) -> tuple[str, str]:
    """The issuer as registered, and with the trailing slash some platforms add."""
    return registration.issuer, registration.issuer + "/"


def record_deployment(session: Any, registration: Registration, deployment_id: str, *,
                      active: bool) -> Deployment:
    """Record ``deployment_id`` of ``registration`` once, even under concurrent launches."""
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(Deployment)
        .values(registration_id=registration.id, deployment_id=deployment_id, active=active,
                first_seen_at=now, activated_at=now if active else None)
        .on_conflict_do_nothing(index_elements=["registration_id", "deployment_id"])
    )
    return session.scalars(
        select(Deployment).where(Deployment.registration_id == registration.id,
                                 Deployment.deployment_id == deployment_id)
        .execution_options(populate_existing=True)
    ).one()


def activation_command(registration: Registration, deployment_id: str) -> str:
    """The admin command that activates a held deployment."""
    issuer, client_id = shlex.quote(registration.issuer), shlex.quote(registration.client_id)
    return (f"lti-tool deployment activate --issuer {issuer} --client-id {client_id} "
            f"{shlex.quote(deployment_id)}")


def verify_launch(form: Mapping[str, str], cookies: Mapping[str, str],
                  tool_conf: DatabaseToolConf, store: Any, http: requests.Session,
                  settings: Settings) -> tuple[VerifiedLaunch | None, LaunchError | None,
                                               list[StateCookie]]:
    """Check a launch POST: ``(verified, None, cookies)`` or ``(None, error, cookies)``.

    The cookies (the spent state cookie, cleared) go on the response either way.
    """
    launch = ToolMessageLaunch(form, cookies, tool_conf, store, http, settings)
    try:
        verified = launch.verify()
    except LaunchError as error:
        return None, error, launch.cookies.pending
    return verified, None, launch.cookies.pending
