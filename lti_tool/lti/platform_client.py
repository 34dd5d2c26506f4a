"""The platform client: the only code that calls platforms (OAuth 2 tokens, AGS, NRPS).

Grade delivery and the roster sync use it; nothing else talks to a platform.

- Access tokens: the client-credentials grant with a JWT client assertion signed by the
  Keyring's loaded private key (PyLTI1p3 signs with PEM text, which re-parses the key on
  every signature: FACTS 4). Tokens are cached in the shared store (Redis or the database)
  per (registration, token URL, sorted scopes) until 60 s before they expire, so every
  process and host reuses them (FACTS 5), and refreshed once on a 401.
- Calls go through the runtime's pooled ``requests`` session (it carries the User-Agent
  Canvas requires) with the configured timeout.
- ``Link: rel="next"`` URLs are followed exactly as sent: their page tokens may be
  case-sensitive (FACTS 9).
- Failures are typed: :class:`RetryableError` (5xx, timeouts, dropped connections, 429
  with its Retry-After) or :class:`PermanentError` (scope not granted, line item deleted,
  learner not enrolled, ...), with the platform's reason, truncated and free of tokens.
  A 409 on a score is a :class:`ConflictError`: the caller decides what it means.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from requests.utils import parse_header_links

if TYPE_CHECKING:
    from lti_tool.persistence.models import Registration
    from lti_tool.runtime import Runtime

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
#: What grade delivery asks for in one token: find or create the line item, read results
#: (the 409 check), post scores. One scope set means one token for every AGS call.
GRADING_SCOPES = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE)

MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
MEDIA_MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Tokens are dropped from the cache this long before the platform says they expire.
TOKEN_EXPIRY_MARGIN_SECONDS = 60
ASSERTION_LIFETIME_SECONDS = 300
REASON_MAX_CHARS = 300
RETRY_AFTER_CAP_SECONDS = 3600
#: A paged container longer than this is a platform loop, not a roster.
MAX_PAGES = 1000

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


# -- errors ------------------------------------------------------------------------------


class PlatformError(Exception):
    """A platform call that did not succeed.

    ``code`` is stable (for the dashboard and logs), ``reason`` is the platform's own
    words (truncated, never a token), ``status`` the HTTP status when there was one.
    """

    retryable = False

    def __init__(self, code: str, reason: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class RetryableError(PlatformError):
    """Trying again later may succeed: 5xx, 429, timeouts, dropped connections."""

    retryable = True


class PermanentError(PlatformError):
    """Trying again will not help until a person changes something."""


class ConflictError(PermanentError):
    """409: the platform refused the score as not newer than the one it holds."""


# -- who we are to a platform --------------------------------------------------------------


@dataclass(frozen=True)
class PlatformAccount:
    """What the client needs of a registration, detached from any database session."""

    registration_id: int
    client_id: str
    auth_token_url: str
    token_audience: str | None = None

    @classmethod
    def of(cls, registration: Registration) -> PlatformAccount:
        """The account of a registration row."""
        return cls(registration.id, registration.client_id, registration.auth_token_url,
                   registration.token_audience or None)


# -- helpers -------------------------------------------------------------------------------


def sub_url(lineitem_url: str, suffix: str) -> str:
    """``.../lineitems/7`` + ``scores`` -> ``.../lineitems/7/scores``, keeping the query
    (Moodle's line item URLs carry ``?type_id=N``)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


def next_link(response: requests.Response) -> str | None:
    """The ``rel="next"`` URL of a paged response, exactly as sent (case kept)."""
    header = response.headers.get("Link")
    if not header:
        return None
    for link in parse_header_links(header):
        rels = (link.get("rel") or "").split()
        if "next" in rels and link.get("url"):
            return link["url"]
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    return float(min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def platform_reason(response: requests.Response, *, secrets_to_hide: tuple[str, ...] = ()
                    ) -> str:
    """The platform's explanation of an error response, one line, truncated, no tokens."""
    reason = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("error_description", "message", "reason", "detail", "error"):
            value = body.get(name)
            if isinstance(value, str) and value.strip():
                reason = value
                break
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                reason = value["message"]
                break
    elif isinstance(body, list) and body and isinstance(body[0], dict):
        reason = str(body[0].get("message") or "")
    if not reason:
        content_type = response.headers.get("Content-Type", "")
        text = response.text if "html" not in content_type else ""
        reason = text or response.reason or ""
    reason = _one_line(reason)
    for secret in secrets_to_hide:
        if secret:
            reason = reason.replace(secret, "[hidden]")
    if len(reason) > REASON_MAX_CHARS:
        reason = reason[: REASON_MAX_CHARS - 3] + "..."
    return f"HTTP {response.status_code}" + (f": {reason}" if reason else "")


def _process_lock(key: str) -> threading.Lock:
    with _process_locks_guard:
        lock = _process_locks.get(key)
        if lock is None:
            lock = _process_locks[key] = threading.Lock()
        return lock


# -- the client ----------------------------------------------------------------------------


class PlatformClient:
    """Calls to one platform registration: tokens, AGS line items, scores, results, NRPS."""

    def __init__(self, runtime: Runtime, account: PlatformAccount, *,
                 timeout: float | None = None) -> None:
        self.runtime = runtime
        self.account = account
        self.timeout = timeout if timeout is not None else runtime.settings.http_timeout_seconds
        self.http = runtime.http
        #: Calls made by this client object (tokens fetched, requests sent): for logs.
        self.token_requests = 0

    # -- access tokens ---------------------------------------------------------------------

    def _cache_key(self, scopes: tuple[str, ...]) -> str:
        identity = "\n".join(
            [str(self.account.registration_id), self.account.auth_token_url, " ".join(scopes)]
        )
        return "platform-token:" + hashlib.sha256(identity.encode()).hexdigest()[:40]

    def _cached_token(self, key: str) -> str | None:
        raw = self.runtime.store.get(key)
        if not raw:
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        if entry.get("expires_at", 0) - TOKEN_EXPIRY_MARGIN_SECONDS <= time.time():
            return None
        token = entry.get("access_token")
        return token if isinstance(token, str) and token else None

    def access_token(self, scopes: tuple[str, ...] | list[str]) -> str:
        """A bearer token for ``scopes``: from the shared cache, or fetched and cached.

        One fetch per process at a time per cache key; other processes wait briefly on a
        lock in the shared store rather than each asking the platform for a token.
        """
        wanted = tuple(sorted(set(scopes)))
        key = self._cache_key(wanted)
        token = self._cached_token(key)
        if token:
            return token
        with _process_lock(key):
            token = self._cached_token(key)
            if token:
                return token
            lock_key = key + ":fetching"
            holder = secrets.token_hex(8)
            locked = self.runtime.store.add(lock_key, holder, int(self.timeout) + 5)
            if not locked:
                deadline = time.monotonic() + self.timeout
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                    token = self._cached_token(key)
                    if token:
                        return token
                # The other fetcher is stuck or died: fetch ourselves.
            try:
                token, expires_in = self._fetch_token(wanted)
                ttl = int(expires_in) - TOKEN_EXPIRY_MARGIN_SECONDS
                if ttl > 0:
                    entry = {"access_token": token, "expires_at": time.time() + expires_in}
                    self.runtime.store.set(key, json.dumps(entry), ttl)
                return token
            finally:
                if locked:
                    self.runtime.store.delete(lock_key)

    def forget_token(self, scopes: tuple[str, ...] | list[str], token: str) -> None:
        """Drop a token the platform refused (only if the cache still holds that one)."""
        key = self._cache_key(tuple(sorted(set(scopes))))
        if self._cached_token(key) == token:
            self.runtime.store.delete(key)

    def client_assertion(self) -> str:
        """The signed JWT that authenticates the tool at the token endpoint."""
        with self.runtime.session() as db:
            key = self.runtime.keyring.signing_key(db)
        now = int(time.time())
        claims = {
            "iss": self.account.client_id,
            "sub": self.account.client_id,
            "aud": self.account.token_audience or self.account.auth_token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": secrets.token_urlsafe(18),
        }
        # The loaded key object, never the PEM: parsing PEM costs ~37 ms a signature.
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
            "scope": " ".join(scopes),
        }
        self.token_requests += 1
        response = self._send("POST", self.account.auth_token_url, data=form,
                              headers={"Accept": "application/json"}, what="token")
        if response.status_code >= 400:
            raise self._token_error(response)
        try:
            body = response.json()
        except ValueError:
            raise RetryableError("bad_token_response",
                                 "the token endpoint did not answer with JSON",
                                 status=response.status_code) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PermanentError("bad_token_response", "the token response has no access_token",
                                 status=response.status_code)
        expires_in = body.get("expires_in", 3600)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = 3600
        return token, float(expires_in)

    def _token_error(self, response: requests.Response) -> PlatformError:
        status = response.status_code
        reason = platform_reason(response)
        if status == 429:
            return RetryableError("rate_limited", reason, status=status,
                                  retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500 or status == 408:
            return RetryableError("token_unavailable", reason, status=status)
        error = ""
        try:
            body = response.json()
            error = body.get("error", "") if isinstance(body, dict) else ""
        except ValueError:
            pass
        if error == "invalid_scope":
            return PermanentError("scope_not_granted", reason, status=status)
        if status == 401:
            # invalid_client: the platform cannot check our assertion yet (tool pending
            # activation, a key set it cached before a rotation). An admin's fix, or the
            # platform's cache expiring, makes a later try succeed without anyone resending.
            return RetryableError("token_refused", reason, status=status)
        return PermanentError("token_refused", reason, status=status)

    # -- HTTP --------------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange; network failures become RetryableError."""
        try:
            return self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise RetryableError("timeout", f"no answer within {self.timeout:g} s ({what})"
                                 ) from None
        except requests.ConnectionError as exc:
            text = str(exc)
            dropped = any(word in text for word in (
                "Connection aborted", "RemoteDisconnected", "reset", "closed"))
            code = "connection_dropped" if dropped else "connection_failed"
            raise RetryableError(code, f"{code.replace('_', ' ')} ({what})") from None
        except requests.RequestException as exc:
            raise RetryableError("request_failed", f"{type(exc).__name__} ({what})") from None

    def call(self, method: str, url: str, scopes: tuple[str, ...] | list[str], *, what: str,
             codes: dict[int, str] | None = None, **kwargs: Any) -> requests.Response:
        """An authorised service call; retried once with a fresh token on 401.

        Returns the response when its status is below 400; raises a PlatformError
        otherwise. ``codes`` names the stable error code for particular statuses.
        """
        headers = dict(kwargs.pop("headers", None) or {})
        token = self.access_token(scopes)
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {token}"
            response = self._send(method, url, headers=headers, what=what, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.forget_token(scopes, token)
                token = self.access_token(scopes)
                continue
            break
        if response.status_code < 400:
            return response
        raise self._error(response, token, codes or {})

    def _error(self, response: requests.Response, token: str, codes: dict[int, str]
               ) -> PlatformError:
        status = response.status_code
        reason = platform_reason(response, secrets_to_hide=(token,))
        if status == 429:
            return RetryableError(
                "rate_limited", reason, status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 408:
            return RetryableError(codes.get(status, "platform_unavailable"), reason,
                                  status=status)
        if status == 409:
            return ConflictError(codes.get(409, "conflict"), reason, status=status)
        default = {401: "unauthorized", 403: "scope_not_granted", 404: "not_found",
                   400: "rejected", 415: "rejected"}.get(status, f"http_{status}")
        return PermanentError(codes.get(status, default), reason, status=status)

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            # An HTML page from a proxy in front of the platform: likely passing.
            raise RetryableError("bad_response", f"the platform's {what} answer is not JSON",
                                 status=response.status_code) from None

    def _pages(self, url: str, scopes: tuple[str, ...] | list[str], *, accept: str, what: str,
               params: dict[str, str] | None = None, codes: dict[int, str] | None = None
               ) -> Iterator[Any]:
        """Each page's JSON body, following ``rel="next"`` verbatim."""
        seen: set[str] = set()
        next_url: str | None = url
        page_params = params
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            response = self.call("GET", next_url, scopes, what=what, params=page_params,
                                 headers={"Accept": accept}, codes=codes)
            yield self._json(response, what)
            seen.add(next_url)
            next_url = next_link(response)
            # The next URL carries its own query (filters and page token): send it as is.
            page_params = None
            if next_url in seen:
                return
        raise RetryableError("too_many_pages", f"{what}: more than {MAX_PAGES} pages")

    # -- AGS ---------------------------------------------------------------------------------

    def find_lineitem(self, lineitems_url: str, *, resource_link_id: str, tag: str | None,
                      scopes: tuple[str, ...] = GRADING_SCOPES) -> dict[str, Any] | None:
        """The first line item of ``resource_link_id`` (and ``tag``), or None.

        Filters are sent as query parameters and checked again here, since some
        platforms ignore them."""
        params = {"resource_link_id": resource_link_id}
        if tag:
            params["tag"] = tag
        for page in self._pages(lineitems_url, scopes, accept=MEDIA_LINEITEM_CONTAINER,
                                what="line items", params=params,
                                codes={404: "lineitems_not_found"}):
            for item in page if isinstance(page, list) else []:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    continue
                if item.get("resourceLinkId") != resource_link_id:
                    continue
                if tag and item.get("tag") != tag:
                    continue
                return item
        return None

    def create_lineitem(self, lineitems_url: str, lineitem: dict[str, Any],
                        scopes: tuple[str, ...] = GRADING_SCOPES) -> dict[str, Any]:
        """POST a new line item; returns it as the platform stored it (with its id)."""
        response = self.call(
            "POST", lineitems_url, scopes, what="line item creation",
            data=json.dumps(lineitem),
            headers={"Content-Type": MEDIA_LINEITEM, "Accept": MEDIA_LINEITEM},
            codes={400: "lineitem_rejected", 404: "lineitems_not_found"},
        )
        body = self._json(response, "line item creation")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise PermanentError("bad_response", "the created line item has no id",
                                 status=response.status_code)
        return body

    def post_score(self, lineitem_url: str, score: dict[str, Any],
                   scopes: tuple[str, ...] = GRADING_SCOPES) -> int:
        """POST a score to the line item's ``/scores``; returns the HTTP status."""
        response = self.call(
            "POST", sub_url(lineitem_url, "scores"), scopes, what="score",
            data=json.dumps(score), headers={"Content-Type": MEDIA_SCORE},
            codes={404: "lineitem_not_found", 400: "score_rejected", 409: "conflict"},
        )
        return response.status_code

    def get_results(self, lineitem_url: str, *, user_id: str | None = None,
                    scopes: tuple[str, ...] = GRADING_SCOPES) -> list[dict[str, Any]]:
        """The line item's results (every page), for one learner when ``user_id`` is set."""
        params = {"user_id": user_id} if user_id else None
        results: list[dict[str, Any]] = []
        for page in self._pages(sub_url(lineitem_url, "results"), scopes,
                                accept=MEDIA_RESULT_CONTAINER, what="results", params=params,
                                codes={404: "lineitem_not_found"}):
            for row in page if isinstance(page, list) else []:
                if isinstance(row, dict) and (user_id is None or row.get("userId") == user_id):
                    results.append(row)
        return results

    # -- NRPS --------------------------------------------------------------------------------

    def iter_members(self, memberships_url: str) -> Iterator[dict[str, Any]]:
        """Every member of the context, across all pages."""
        for page in self._pages(memberships_url, (SCOPE_NRPS,),
                                accept=MEDIA_MEMBERSHIP_CONTAINER, what="roster",
                                codes={404: "roster_not_found"}):
            members = page.get("members") if isinstance(page, dict) else None
            for member in members if isinstance(members, list) else []:
                if isinstance(member, dict) and isinstance(member.get("user_id"), str):
                    yield member

    def get_members(self, memberships_url: str) -> list[dict[str, Any]]:
        """The whole roster as a list (all pages)."""
        return list(self.iter_members(memberships_url))
