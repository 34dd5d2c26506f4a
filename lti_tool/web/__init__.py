"""The web layer: one database session and one commit point per request, error pages,
and the security headers every page carries (framing only by registered platforms)."""

from __future__ import annotations

import importlib
import json
import logging
from urllib.parse import urlsplit

from flask import Flask, Response, g, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from lti_tool.runtime import current_runtime

log = logging.getLogger("lti_tool.web")

# Blueprint modules, each exposing ``bp``.
BLUEPRINTS = (
    "lti_tool.lti.views",
    "lti_tool.lti.registration",
    "lti_tool.web.views",
    "lti_tool.web.learner",
    "lti_tool.web.activity",
    "lti_tool.web.educator",
    "lti_tool.web.admin",
)

FRAME_ANCESTORS_KEY = "web:frame-ancestors"
FRAME_ANCESTORS_TTL = 60


class HTTPError(HTTPException):
    """An HTTP error with a stable code, shown as a page (or JSON) by ``error_response``."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        self.code = status
        self.error_code = code
        self.message = message
        self.hint = hint
        self.extra = extra or {}


def abort_with(status: int, code: str, message: str, *, hint: str | None = None,
               extra: dict | None = None):
    """Stop the request with a clear error page carrying a stable ``code``."""
    raise HTTPError(status, code, message, hint, extra)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json" or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, *, hint: str | None = None,
                   extra: dict | None = None) -> Response:
    """The error page (HTML, fit for the LMS iframe) or a JSON error, with a stable code."""
    if wants_json():
        body = {"error": code, "message": message}
        if hint:
            body["hint"] = hint
        body.update(extra or {})
        response = Response(json.dumps(body), status=status, mimetype="application/json")
    else:
        response = Response(
            render_template("error.html", status=status, code=code, message=message, hint=hint,
                            extra=extra or {}),
            status=status,
            mimetype="text/html",
        )
    response.headers["X-Error-Code"] = code
    return response


def db() -> Session:
    """The request's database session; committed once, after the view, on success."""
    if "db" not in g:
        g.db = current_runtime().sessionmaker()
    return g.db


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def platform_origins() -> list[str]:
    """Origins of enabled registrations (issuer and login URL), cached briefly."""
    runtime = current_runtime()
    cached = runtime.store.get(FRAME_ANCESTORS_KEY)
    if cached is not None:
        return json.loads(cached)
    from lti_tool.persistence.models import Registration

    with runtime.sessionmaker() as session:
        rows = session.execute(
            select(Registration.issuer, Registration.auth_login_url).where(Registration.enabled)
        ).all()
    origins = sorted({o for row in rows for o in map(_origin, row) if o})
    runtime.store.set(FRAME_ANCESTORS_KEY, json.dumps(origins), FRAME_ANCESTORS_TTL)
    return origins


def forget_platform_origins() -> None:
    """Call after registrations change so framing rules follow at once."""
    current_runtime().store.delete(FRAME_ANCESTORS_KEY)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        try:
            origins = platform_origins()
        except Exception:  # the page still renders, framed by nobody but ourselves
            log.exception("could not read platform origins for frame-ancestors")
            origins = []
        ancestors = " ".join(["'self'", *origins])
        form_action = " ".join(["'self'", *origins, *getattr(g, "extra_form_action", [])])
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"object-src 'none'; base-uri 'none'; form-action {form_action}; "
            f"frame-ancestors {ancestors}"
        )
    if request.endpoint and request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register blueprints, the commit point, error handlers and security headers."""
    from lti_tool.web.security import template_globals

    app.jinja_env.globals.update(template_globals())
    for module_name in BLUEPRINTS:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.bp)

    @app.after_request
    def _commit(response: Response) -> Response:
        session = g.pop("db", None)
        if session is not None:
            try:
                if response.status_code < 400 or (
                    response.status_code < 500 and g.get("commit_on_error")
                ):
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return _security_headers(response)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()

    @app.errorhandler(HTTPError)
    def _http_error(error: HTTPError):
        return error_response(error.code, error.error_code, error.message, hint=error.hint,
                              extra=error.extra)

    @app.errorhandler(HTTPException)
    def _werkzeug_error(error: HTTPException):
        codes = {
            400: ("bad_request", "The request could not be understood."),
            403: ("forbidden", "You do not have access to this page."),
            404: ("not_found", "There is nothing at this address."),
            405: ("method_not_allowed", "This address does not accept that kind of request."),
            413: ("too_large", "What you sent is too large. Shorten it and try again."),
            429: ("rate_limited", "Too many requests. Wait a minute and try again."),
        }
        code, message = codes.get(error.code or 500, ("http_error", error.description or ""))
        return error_response(error.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "internal_error",
            "Something went wrong on our side. Nothing you saved before has been lost; "
            "try again in a moment.",
        )
