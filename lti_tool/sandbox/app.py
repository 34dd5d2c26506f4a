"""The sandbox LMS application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import control, deep_linking, pages, platform, registration, services
from .config import SandboxConfig
from .http import html_error, json_error
from .state import Sandbox

logger = logging.getLogger("lti_tool.sandbox")

_JSON_PREFIXES = ("/api/", "/control/", "/token", "/register", "/.well-known/", "/jwks")


def _wants_json() -> bool:
    return request.path.startswith(_JSON_PREFIXES) and request.path != "/register/start"


def create_sandbox_app(config: SandboxConfig) -> Flask:
    """A Flask app serving one sandbox platform; ``app.extensions["sandbox"]`` is its state."""
    app = Flask("lti_tool.sandbox")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["sandbox"] = Sandbox(config)
    for blueprint in (
        platform.bp, services.bp, deep_linking.bp, registration.bp, pages.bp,
    ):
        app.register_blueprint(blueprint)
    if config.control_api:
        app.register_blueprint(control.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        status = exc.code or 500
        if _wants_json():
            return json_error(status, code, exc.description or code)
        return html_error(status, code, exc.description or code)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        # One log line, no traceback to the client.
        logger.error("sandbox error on %s %s: %s", request.method, request.path,
                     type(exc).__name__)
        if _wants_json():
            return json_error(500, "server_error", "the sandbox failed")
        return html_error(500, "server_error", "the sandbox failed")

    return app
