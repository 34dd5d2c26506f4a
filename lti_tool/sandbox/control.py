"""The control API for tests: fault switches, reset, state, key rotation."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .http import json_error, json_response, sandbox
from .registration import VARIANTS, create_registration_token, openid_configuration_url
from .state import FaultSpecError

bp = Blueprint("control", __name__, url_prefix="/control")


@bp.get("/state")
def state() -> Response:
    """Everything tests assert on: line items, scores, results, counts, clients, ..."""
    return json_response(sandbox().snapshot())


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Response:
    """POST adds a fault switch; GET lists pending ones; DELETE clears them."""
    sb = sandbox()
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return json_error(400, "invalid_request", "send a JSON object")
        try:
            fault = sb.add_fault(
                str(body.get("endpoint", "")), str(body.get("kind", "")),
                count=body.get("count", 1), retry_after=body.get("retry_after"),
                delay=body.get("delay"),
            )
        except FaultSpecError as exc:
            return json_error(400, "invalid_fault", str(exc))
        return json_response(fault, status=201)
    if request.method == "DELETE":
        sb.clear_faults()
        return Response(status=204)
    with sb.lock:
        pending = [dict(f) for f in sb.data["faults"]]
    return json_response(pending)


@bp.post("/reset")
def reset() -> Response:
    """Back to the initial world (keys kept)."""
    sandbox().reset()
    return Response(status=204)


@bp.post("/rotate-key")
def rotate_key() -> Response:
    """Sign with a new key; ``{"keep_old": false}`` also unpublishes the old one."""
    body = request.get_json(silent=True) or {}
    keep_old = bool(body.get("keep_old", True)) if isinstance(body, dict) else True
    fresh = sandbox().keys.rotate(keep_old=keep_old)
    return json_response({"kid": fresh.kid, "jwks": sandbox().keys.jwks()})


@bp.post("/clients/<client_id>/activate")
def activate(client_id: str) -> Response:
    """Activate a pending registered client."""
    if not sandbox().set_client_status(client_id, "active"):
        return json_error(404, "not_found", "no registered client with this id")
    return Response(status=204)


@bp.post("/registration-token")
def registration_token() -> Response:
    """A registration token and configuration URL, without going through the start page."""
    body = request.get_json(silent=True) or {}
    variant = body.get("variant", "moodle") if isinstance(body, dict) else "moodle"
    if variant not in VARIANTS:
        return json_error(400, "invalid_request", "variant must be moodle or canvas")
    sb = sandbox()
    token = create_registration_token(sb, variant)
    return json_response(
        {"variant": variant, "registration_token": token,
         "openid_configuration": openid_configuration_url(sb, variant)},
        status=201,
    )
