"""The LTI endpoints platforms call: OIDC login, launch, and the tool's public keys.

``/lti/login`` (GET and POST) answers with a GET redirect to the platform; ``/lti/launch``
verifies the id_token and sends the browser on (303) to the launch's home page with the
launch session id in ``ls``. Every refusal is a page that fits the LMS iframe (or JSON),
with a stable code, a 4xx status and one log line without token contents.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for

from lti_tool.lti.errors import LaunchError
from lti_tool.lti.launch import RELAUNCH_PARAM, begin_login, verify_launch
from lti_tool.lti.toolconf import DatabaseToolConf
from lti_tool.runtime import current_runtime
from lti_tool.services.launches import prune_expired_sessions, record_launch
from lti_tool.web import db, error_response, wants_json

log = logging.getLogger("lti_tool.lti")

bp = Blueprint("lti", __name__)

HOME_ENDPOINT = "web.launch_home"
JWKS_MAX_AGE = 300
# About one launch in this many also deletes expired launch sessions.
PRUNE_ONE_IN = 50


def _tool_conf() -> DatabaseToolConf:
    return DatabaseToolConf(db(), current_runtime().keyring)


def _refuse(error: LaunchError, step: str):
    """The page (or JSON) for a refused login or launch, logged once."""
    log.warning("%s refused: %s", step, error.code,
                extra={"code": error.code, "detail": error.detail, "status": error.status})
    if error.commit:
        # The refusal itself must be remembered (an unknown deployment waiting for an admin).
        g.commit_on_error = True
    if error.code == "launch_cookie_blocked" and not wants_json():
        response = current_app.make_response((
            render_template("launch/cookie_blocked.html", message=error.message,
                            code=error.code, relaunch=error.extra[RELAUNCH_PARAM],
                            relaunch_param=RELAUNCH_PARAM),
            error.status,
        ))
        response.headers["X-Error-Code"] = error.code
        return response
    extra = {k: v for k, v in error.extra.items() if k != RELAUNCH_PARAM}
    return error_response(error.status, error.code, error.message, hint=error.hint,
                          extra=extra)


@bp.route("/lti/login", methods=["GET", "POST"])
def login():
    """OIDC third-party initiated login: GET redirect to the platform's auth endpoint."""
    runtime = current_runtime()
    values = request.form if request.method == "POST" else request.args
    try:
        return begin_login(values, _tool_conf(), runtime.store, runtime.settings)
    except LaunchError as error:
        return _refuse(error, "login")


@bp.route("/lti/launch", methods=["POST"])
def launch():
    """The platform's form post of the id_token: verify it, record it, go on (303)."""
    runtime = current_runtime()
    verified, error, cookies = verify_launch(
        request.form, request.cookies, _tool_conf(), runtime.store, runtime.http,
        runtime.settings,
    )
    if error is not None:
        response = _refuse(error, "launch")
    else:
        launch_session = record_launch(
            db(), verified.registration, verified.claims,
            lifetime_seconds=runtime.settings.launch_session_seconds,
        )
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            prune_expired_sessions(db())
        log.info("launch accepted", extra={
            "registration_id": verified.registration.id,
            "message_type": verified.claims.message_type,
            "deployment_pk": verified.deployment.id,
        })
        response = current_app.redirect(url_for(HOME_ENDPOINT, ls=launch_session.id), 303)
    for cookie in cookies:
        cookie.apply(response)
    return response


@bp.route("/lti/jwks", methods=["GET"])
def jwks():
    """The tool's public keys: every key not retired (several during a rotation)."""
    response = jsonify(current_runtime().keyring.jwks(db()))
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response

