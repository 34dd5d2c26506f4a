"""lti-tool: competency assessments inside the LMS over LTI 1.3 Advantage."""

from __future__ import annotations

from typing import Any

from flask import Flask

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the tool's Flask app: settings, runtime, blueprints, error pages.

    ``config`` overrides settings (tests); nothing happens at import time.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from lti_tool.logs import configure_logging
    from lti_tool.runtime import Runtime
    from lti_tool.settings import load_settings
    from lti_tool.web import init_app as init_web

    settings = load_settings(config)
    configure_logging(settings.log_format, settings.log_level)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder="web/templates",
        static_folder="web/static",
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
        JSON_SORT_KEYS=False,
    )
    runtime = Runtime(settings)
    app.extensions["lti_tool"] = runtime
    if settings.proxy_fix:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
    init_web(app)
    if settings.sandbox:
        _mount_sandbox(app, settings)
    return app


def _mount_sandbox(app: Flask, settings) -> None:
    """Serve the sandbox LMS at /sandbox beside the tool (``make run``; never production)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from lti_tool.sandbox import SandboxConfig, create_sandbox_app

    config = SandboxConfig(
        base_url=settings.url("/sandbox"),
        tool_login_url=settings.url("/lti/login"),
        tool_launch_url=settings.url("/lti/launch"),
        tool_jwks_url=settings.url("/lti/jwks"),
        client_id="sandbox-client",
        deployment_id="sandbox-deployment-1",
        state_path=str(settings.instance_path / "sandbox-state.json"),
        key_path=str(settings.instance_path / "sandbox-key.pem"),
    )
    sandbox = create_sandbox_app(config)
    app.extensions["sandbox"] = sandbox
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/sandbox": sandbox})
