"""The launch landing page (who the tool understood you to be) and health checks."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template
from sqlalchemy import select

from lti_tool.runtime import current_runtime
from lti_tool.web import db
from lti_tool.web.security import launch_view, url_for_launch

bp = Blueprint("web", __name__)

# Views other blueprints provide for each kind of launch, looked up at request time so
# this module does not import them (message type -> role -> endpoint).
HOME_ENDPOINTS = {
    ("LtiDeepLinkingRequest", "educator"): "activity.deep_link",
    ("LtiResourceLinkRequest", "educator"): "educator.dashboard",
    ("LtiResourceLinkRequest", "mentor"): "educator.dashboard",
    ("LtiResourceLinkRequest", "learner"): "learner.start",
    ("course_navigation", "educator"): "educator.course",
}


@bp.get("/")
def home():
    """The tool's front page: the sandbox when mounted, otherwise what admins paste."""
    runtime = current_runtime()
    if runtime.settings.sandbox:
        return redirect("/sandbox/")
    return render_template("home.html", settings=runtime.settings)


@bp.get("/launch")
@launch_view()
def launch_home():
    """Where a verified launch lands: the page for this message type and role."""
    from flask import g

    launch = g.launch
    role = "educator" if launch.is_educator else "mentor" if launch.is_mentor else "learner"
    message = launch.session.message_type
    placement = launch.claims.get("placement")
    if message == "LtiResourceLinkRequest" and placement == "course_navigation":
        message = "course_navigation"
    endpoint = HOME_ENDPOINTS.get((message, role))
    if endpoint and endpoint in current_app.view_functions:
        return redirect(url_for_launch(endpoint), code=303)
    return render_template("launch_home.html", role=role, message=message)


@bp.get("/healthz")
def healthz():
    """Liveness and readiness: database reachable, shared store reachable, a key loaded."""
    runtime = current_runtime()
    checks: dict[str, dict] = {}
    healthy = True
    try:
        db().execute(select(1))
        checks["database"] = {"ok": True, "backend": db().bind.dialect.name}
    except Exception as exc:  # reported, not raised: this page exists to say so
        healthy = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        runtime.store.ping()
        checks["cache"] = {"ok": True, "backend": runtime.store.kind}
    except Exception as exc:
        healthy = False
        checks["cache"] = {"ok": False, "backend": runtime.store.kind,
                           "error": type(exc).__name__}
    try:
        keys = runtime.keyring.jwks(db())["keys"]
        runtime.keyring.signing_key(db())
        checks["keys"] = {"ok": bool(keys), "published": len(keys)}
        healthy = healthy and bool(keys)
    except Exception as exc:
        healthy = False
        checks["keys"] = {"ok": False, "error": type(exc).__name__}
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return jsonify(body), (200 if healthy else 503)
