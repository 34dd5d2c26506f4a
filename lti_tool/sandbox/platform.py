"""The platform's browser-facing LTI endpoints: key set, launch start and OIDC auth."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request

from .http import autopost, fault_response, html_error, json_response, sandbox
from .launch import LaunchError, check_authorization_request, issue_id_token, start_launch

bp = Blueprint("platform", __name__)


@bp.get("/jwks")
def jwks() -> Response:
    """The platform's public keys (JWKS)."""
    sb = sandbox()
    sb.count("jwks")
    faulted = fault_response("jwks")
    if faulted is not None:
        return faulted
    response = json_response(sb.keys.jwks())
    response.headers["Cache-Control"] = "max-age=300"
    return response


@bp.route("/launch/start", methods=["GET", "POST"])
def launch_start() -> Response:
    """Third-party login initiation: a GET redirect, or (POST) an auto-submitted form."""
    sb = sandbox()
    sb.count("launch_start")
    params = {k: str(v) for k, v in request.values.items()}
    try:
        login_url, login_params = start_launch(sb, params)
    except LaunchError as exc:
        return html_error(400, exc.code, exc.description)
    if request.method == "POST":
        return autopost(login_url, login_params, "Starting the launch")
    separator = "&" if "?" in login_url else "?"
    response = redirect(login_url + separator + urlencode(login_params), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/auth", methods=["GET", "POST"])
def auth() -> Response:
    """OIDC authorization endpoint: checks the tool's request and posts back an id_token."""
    sb = sandbox()
    sb.count("auth")
    sb.purge_expired()
    params = {k: str(v) for k, v in request.values.items()}
    try:
        launch, client = check_authorization_request(sb, params)
    except LaunchError as exc:
        return html_error(400, exc.code, exc.description)
    id_token, state, _claims = issue_id_token(sb, launch, client, params["nonce"], params["state"])
    return autopost(
        params["redirect_uri"], {"id_token": id_token, "state": state}, "Launching the tool"
    )
