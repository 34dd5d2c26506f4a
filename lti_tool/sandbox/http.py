"""HTTP helpers shared by the sandbox's routes: errors, fault switches, bearer checks."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, render_template, request

from .state import Sandbox


class ConnectionDropped(ConnectionAbortedError):
    """Raised while reading a response body when the sandbox drops a connection it cannot
    close for real (Flask's test client has no socket)."""


def sandbox() -> Sandbox:
    """The Sandbox of the current app."""
    return current_app.extensions["sandbox"]


def json_response(
    body: Any, status: int = 200, content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON body with a given media type."""
    response = Response(json.dumps(body), status=status, content_type=content_type)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_error(
    status: int, code: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """An OAuth-style JSON error: ``{"error": code, "error_description": ...}``."""
    return json_response(
        {"error": code, "error_description": description}, status=status, headers=headers
    )


def html_error(status: int, code: str, description: str) -> Response:
    """A plain error page with a stable code (browser-facing endpoints)."""
    page = render_template("error.html", status=status, code=code, description=description)
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def autopost(action: str, fields: dict[str, str], title: str) -> Response:
    """A page that POSTs ``fields`` to ``action`` at once (a <noscript> button without JS)."""
    page = render_template("autopost.html", action=action, fields=fields, title=title)
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _drop_connection() -> Response:
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        try:
            # Shut the TCP connection down before any byte of a response: the client sees
            # the connection close with no HTTP answer (requests raises ConnectionError).
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return Response(b"", status=500)

    def body() -> Iterator[bytes]:
        raise ConnectionDropped("sandbox dropped the connection (fault switch)")
        yield b""  # pragma: no cover - makes this a generator

    return Response(body(), status=500)


def fault_response(endpoint: str) -> Response | None:
    """Consume a fault switch for ``endpoint``: a response to send instead, or None.

    ``slow`` waits and then lets the request proceed normally.
    """
    fault = sandbox().take_fault(endpoint)
    if fault is None:
        return None
    kind = fault["kind"]
    description = f"fault switch: {kind} on {endpoint}"
    if kind == "slow":
        time.sleep(float(fault["delay"]))
        return None
    if kind == "drop":
        return _drop_connection()
    if kind == "429":
        return json_error(
            429, "rate_limited", description, headers={"Retry-After": str(fault["retry_after"])}
        )
    if kind == "401":
        return json_error(
            401, "invalid_token", description,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    codes = {"500": "server_error", "409": "conflict", "403": "insufficient_scope",
             "404": "not_found"}
    return json_error(int(kind), codes[kind], description)


def check_service_call(endpoint: str, any_of_scopes: tuple[str, ...]) -> tuple[
    Response | None, dict[str, Any] | None
]:
    """Count the call, apply a fault switch, then require a User-Agent and a bearer token
    holding one of ``any_of_scopes``. Returns (error response, token record)."""
    sb = sandbox()
    sb.count(endpoint)
    faulted = fault_response(endpoint)
    if faulted is not None:
        return faulted, None
    if not request.headers.get("User-Agent", "").strip():
        return json_error(400, "user_agent_required", "a User-Agent header is required"), None
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return json_error(
            401, "invalid_token", "a Bearer access token is required",
            headers={"WWW-Authenticate": 'Bearer realm="lti-sandbox"'},
        ), None
    with sb.lock:
        record = sb.data["access_tokens"].get(token.strip())
        record = dict(record) if record else None
    if record is None or record["expires_at"] <= time.time():
        return json_error(
            401, "invalid_token", "the access token is unknown or expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ), None
    if not set(any_of_scopes) & set(record["scopes"]):
        return json_error(
            403, "insufficient_scope",
            "the access token lacks the scope " + " or ".join(any_of_scopes),
        ), None
    return None, record
