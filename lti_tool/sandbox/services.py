"""LTI Advantage services: the OAuth 2 token endpoint, NRPS 2.0 and AGS 2.0."""

from __future__ import annotations

import math
import secrets
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from . import vocab
from .http import check_service_call, fault_response, json_error, json_response, sandbox
from .state import Sandbox, mixed_case_token, new_id, result_from_score
from .tooljwt import Rejected, verify_tool_jwt

bp = Blueprint("services", __name__)

MAX_LIMIT = 1000


# -- token endpoint ------------------------------------------------------------------------


@bp.post("/token")
def token() -> Response:
    """Client credentials grant with a JWT client assertion (LTI Security Framework 4.1)."""
    sb = sandbox()
    sb.count("token")
    faulted = fault_response("token")
    if faulted is not None:
        return faulted
    sb.purge_expired()
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return json_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != vocab.CLIENT_ASSERTION_TYPE:
        return json_error(
            400, "invalid_request", f"client_assertion_type must be {vocab.CLIENT_ASSERTION_TYPE}"
        )
    cfg = sb.config
    try:
        client, claims = verify_tool_jwt(
            sb, form.get("client_assertion", ""), [cfg.token_url, cfg.issuer]
        )
    except Rejected as exc:
        return json_error(401, "invalid_client", f"{exc.code}: {exc.description}")
    if claims.get("sub") != client["client_id"]:
        return json_error(401, "invalid_client", "sub must equal iss (the client id)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return json_error(401, "invalid_client", "the client assertion has no jti")
    if client["status"] != "active":
        return json_error(401, "invalid_client", "the tool is pending activation")
    requested = form.get("scope", "").split()
    if not requested:
        return json_error(400, "invalid_scope", "scope is required")
    not_granted = [s for s in requested if s not in client["scopes"]]
    if not_granted:
        return json_error(400, "invalid_scope", "not granted: " + " ".join(not_granted))
    access_token = secrets.token_urlsafe(32)
    now = time.time()
    with sb.mutate() as data:
        jti_key = f"{client['client_id']}:{jti}"
        if jti_key in data["used_jtis"]:
            return json_error(401, "invalid_client", "the client assertion jti was used before")
        data["used_jtis"][jti_key] = max(float(claims["exp"]), now) + cfg.leeway
        data["access_tokens"][access_token] = {
            "client_id": client["client_id"], "scopes": requested,
            "expires_at": now + cfg.access_token_ttl,
        }
    return json_response(
        {
            "access_token": access_token, "token_type": "Bearer",
            "expires_in": cfg.access_token_ttl, "scope": " ".join(requested),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


# -- paging ------------------------------------------------------------------------------------


class PageError(Exception):
    """A bad limit or page token."""


def _page(
    sb: Sandbox, kind: str, items: list[Any], base_url: str, filters: dict[str, str]
) -> tuple[list[Any], dict[str, str]]:
    """Slice ``items`` by ``limit`` and ``page``; return the page and its Link header.

    The next URL carries an opaque, mixed-case page token: a client that changes its case
    (as PyLTI1p3 2.0.0 does) gets a 400.
    """
    page_token = request.args.get("page")
    if page_token:
        with sb.lock:
            stored = sb.data["page_tokens"].get(page_token)
        if stored is None or stored["kind"] != kind or stored["base_url"] != base_url:
            raise PageError("unknown page token (page tokens are case-sensitive)")
        offset, limit = stored["offset"], stored["limit"]
    else:
        offset = 0
        raw_limit = request.args.get("limit")
        if raw_limit is None:
            limit = sb.config.page_size
        else:
            try:
                limit = int(raw_limit)
            except ValueError:
                raise PageError("limit must be a whole number") from None
            if not 1 <= limit <= MAX_LIMIT:
                raise PageError(f"limit must be between 1 and {MAX_LIMIT}")
    page = items[offset : offset + limit]
    headers: dict[str, str] = {}
    if offset + limit < len(items):
        next_token = mixed_case_token()
        with sb.mutate() as data:
            data["page_tokens"][next_token] = {
                "kind": kind, "base_url": base_url, "offset": offset + limit,
                "limit": limit, "created": time.time(),
            }
        query = urlencode({**filters, "limit": limit, "page": next_token})
        headers["Link"] = f'<{base_url}?{query}>; rel="next"'
    return page, headers


# -- NRPS ----------------------------------------------------------------------------------


def _role_matches(wanted: str, roles: tuple[str, ...]) -> bool:
    return any(r == wanted or r.rsplit("#", 1)[-1] == wanted for r in roles)


@bp.get("/api/nrps/<context_id>/memberships")
def memberships(context_id: str) -> Response:
    """NRPS 2.0 context membership container, paged."""
    error, _token = check_service_call("nrps", (vocab.SCOPE_NRPS,))
    if error is not None:
        return error
    sb = sandbox()
    course = sb.world.courses.get(context_id)
    if course is None:
        return json_error(404, "not_found", "no such context")
    role = request.args.get("role", "").strip()
    members = []
    for enrolment in course.enrolments:
        if role and not _role_matches(role, enrolment.roles):
            continue
        person = sb.world.people[enrolment.user_id]
        members.append({
            "status": "Active", "user_id": person.user_id, "roles": list(enrolment.roles),
            "name": person.name, "given_name": person.given_name,
            "family_name": person.family_name, "email": person.email,
        })
    base_url = sb.memberships_url(context_id)
    try:
        page, headers = _page(sb, "nrps", members, base_url, {"role": role} if role else {})
    except PageError as exc:
        return json_error(400, "invalid_request", str(exc))
    body = {
        "id": base_url,
        "context": {"id": course.context_id, "label": course.label, "title": course.title},
        "members": page,
    }
    return json_response(body, content_type=vocab.MEDIA_MEMBERSHIP_CONTAINER, headers=headers)


# -- AGS: line items -----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _validate_lineitem(
    sb: Sandbox, body: Any, context_id: str
) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(body, dict):
        return None, "the body must be a JSON object"
    if not _is_number(body.get("scoreMaximum")) or body["scoreMaximum"] <= 0:
        return None, "scoreMaximum must be a number greater than 0"
    if not isinstance(body.get("label"), str) or not body["label"].strip():
        return None, "label must be a non-empty string"
    fields: dict[str, Any] = {"label": body["label"], "scoreMaximum": body["scoreMaximum"]}
    for name in ("resourceId", "tag", "resourceLinkId"):
        value = body.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return None, f"{name} must be a string"
        fields[name] = value
    if fields["resourceLinkId"]:
        with sb.lock:
            link = sb.data["links"].get(fields["resourceLinkId"])
        if link is None or link["context_id"] != context_id:
            return None, "resourceLinkId is not a resource link of this context"
    for name in ("startDateTime", "endDateTime"):
        value = body.get(name)
        if value is not None and _parse_timestamp(value) is None:
            return None, f"{name} must be an ISO 8601 date-time with a time zone"
        fields[name] = value
    if "gradesReleased" in body:
        if not isinstance(body["gradesReleased"], bool):
            return None, "gradesReleased must be true or false"
        fields["gradesReleased"] = body["gradesReleased"]
    return fields, None


def _media_type_error(expected: str) -> Response | None:
    if request.mimetype != expected:
        return json_error(
            415, "unsupported_media_type", f"Content-Type must be {expected}"
        )
    return None


@bp.route("/api/ags/<context_id>/lineitems", methods=["GET", "POST"])
def lineitems(context_id: str) -> Response:
    """AGS line items container: list (filters, paging) and create."""
    if request.method == "GET":
        scopes = (vocab.SCOPE_LINEITEM, vocab.SCOPE_LINEITEM_READONLY)
    else:
        scopes = (vocab.SCOPE_LINEITEM,)
    error, token = check_service_call("lineitems", scopes)
    if error is not None:
        return error
    sb = sandbox()
    if context_id not in sb.world.courses:
        return json_error(404, "not_found", "no such context")
    if request.method == "POST":
        return _create_lineitem(sb, context_id, token or {})
    filters = {
        name: request.args[name]
        for name in ("resource_link_id", "resource_id", "tag")
        if request.args.get(name)
    }
    with sb.lock:
        items = [
            sb.lineitem_view(item) for item in sb.data["lineitems"].values()
            if item["context_id"] == context_id and not item["deleted"]
            and item["resourceLinkId"] == filters.get("resource_link_id", item["resourceLinkId"])
            and item["resourceId"] == filters.get("resource_id", item["resourceId"])
            and item["tag"] == filters.get("tag", item["tag"])
        ]
    try:
        page, headers = _page(sb, "lineitems", items, sb.lineitems_url(context_id), filters)
    except PageError as exc:
        return json_error(400, "invalid_request", str(exc))
    return json_response(page, content_type=vocab.MEDIA_LINEITEM_CONTAINER, headers=headers)


def _create_lineitem(sb: Sandbox, context_id: str, token: dict[str, Any]) -> Response:
    wrong_type = _media_type_error(vocab.MEDIA_LINEITEM)
    if wrong_type is not None:
        return wrong_type
    fields, problem = _validate_lineitem(sb, request.get_json(silent=True), context_id)
    if fields is None:
        return json_error(400, "invalid_lineitem", problem or "invalid line item")
    local_id = new_id("li-", 4)
    item = {
        "local_id": local_id, "context_id": context_id, "deleted": False,
        "client_id": token.get("client_id"), **fields,
    }
    with sb.mutate() as data:
        data["lineitems"][local_id] = item
        data["counts"]["lineitems.created"] = data["counts"].get("lineitems.created", 0) + 1
        view = sb.lineitem_view(item)
    return json_response(
        view, status=201, content_type=vocab.MEDIA_LINEITEM, headers={"Location": view["id"]}
    )


def _live_lineitem(sb: Sandbox, context_id: str, local_id: str) -> dict[str, Any] | None:
    with sb.lock:
        item = sb.data["lineitems"].get(local_id)
        if item is None or item["context_id"] != context_id or item["deleted"]:
            return None
        return dict(item)


@bp.route("/api/ags/<context_id>/lineitems/<local_id>", methods=["GET", "PUT", "DELETE"])
def lineitem(context_id: str, local_id: str) -> Response:
    """One line item: read, update, delete."""
    if request.method == "GET":
        scopes = (vocab.SCOPE_LINEITEM, vocab.SCOPE_LINEITEM_READONLY)
    else:
        scopes = (vocab.SCOPE_LINEITEM,)
    error, _token = check_service_call("lineitems", scopes)
    if error is not None:
        return error
    sb = sandbox()
    item = _live_lineitem(sb, context_id, local_id)
    if item is None:
        return json_error(404, "not_found", "no such line item (or it was deleted)")
    if request.method == "GET":
        return json_response(sb.lineitem_view(item), content_type=vocab.MEDIA_LINEITEM)
    if request.method == "DELETE":
        with sb.mutate() as data:
            data["lineitems"][local_id]["deleted"] = True
        return Response(status=204)
    wrong_type = _media_type_error(vocab.MEDIA_LINEITEM)
    if wrong_type is not None:
        return wrong_type
    fields, problem = _validate_lineitem(sb, request.get_json(silent=True), context_id)
    if fields is None:
        return json_error(400, "invalid_lineitem", problem or "invalid line item")
    with sb.mutate() as data:
        stored = data["lineitems"][local_id]
        stored.update(fields)
        view = sb.lineitem_view(stored)
    return json_response(view, content_type=vocab.MEDIA_LINEITEM)


# -- AGS: scores and results ---------------------------------------------------------------


def _validate_score(body: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(body, dict):
        return None, "the body must be a JSON object"
    if not isinstance(body.get("userId"), str) or not body["userId"]:
        return None, "userId is required"
    if _parse_timestamp(body.get("timestamp")) is None:
        return None, "timestamp must be an ISO 8601 date-time with a time zone"
    if body.get("activityProgress") not in vocab.ACTIVITY_PROGRESS:
        return None, "activityProgress must be one of " + ", ".join(vocab.ACTIVITY_PROGRESS)
    if body.get("gradingProgress") not in vocab.GRADING_PROGRESS:
        return None, "gradingProgress must be one of " + ", ".join(vocab.GRADING_PROGRESS)
    score: dict[str, Any] = {
        name: body[name]
        for name in ("userId", "timestamp", "activityProgress", "gradingProgress")
    }
    if body.get("scoreGiven") is not None:
        if not _is_number(body["scoreGiven"]) or body["scoreGiven"] < 0:
            return None, "scoreGiven must be a number of at least 0"
        score["scoreGiven"] = body["scoreGiven"]
        # Moodle's rule: a missing scoreMaximum counts as 1.
        score["scoreMaximum"] = body.get("scoreMaximum", 1)
    if body.get("scoreMaximum") is not None:
        if not _is_number(body["scoreMaximum"]) or body["scoreMaximum"] <= 0:
            return None, "scoreMaximum must be a number greater than 0"
        score["scoreMaximum"] = body["scoreMaximum"]
    if body.get("comment") is not None:
        if not isinstance(body["comment"], str):
            return None, "comment must be a string"
        score["comment"] = body["comment"]
    if body.get("submission") is not None:
        if not isinstance(body["submission"], dict):
            return None, "submission must be an object"
        score["submission"] = body["submission"]
    return score, None


def _reject_score(
    sb: Sandbox, status: int, code: str, description: str, local_id: str, user_id: Any
) -> Response:
    with sb.mutate() as data:
        sb.append_capped(
            data["score_rejections"],
            {"lineitem": local_id, "userId": user_id, "status": status, "error": code,
             "reason": description, "at": time.time()},
        )
    return json_error(status, code, description)


@bp.post("/api/ags/<context_id>/lineitems/<local_id>/scores")
def scores(context_id: str, local_id: str) -> Response:
    """Score publish service, with Moodle's acceptance rules."""
    error, token = check_service_call("scores", (vocab.SCOPE_SCORE,))
    if error is not None:
        return error
    sb = sandbox()
    if _live_lineitem(sb, context_id, local_id) is None:
        return json_error(404, "not_found", "no such line item (or it was deleted)")
    wrong_type = _media_type_error(vocab.MEDIA_SCORE)
    if wrong_type is not None:
        return wrong_type
    body = request.get_json(silent=True)
    score, problem = _validate_score(body)
    user_id = body.get("userId") if isinstance(body, dict) else None
    if score is None:
        return _reject_score(sb, 400, "invalid_score", problem or "", local_id, user_id)
    if not sb.world.courses[context_id].is_learner(score["userId"]):
        return _reject_score(
            sb, 400, "user_not_enrolled", "userId is not an enrolled learner of this context",
            local_id, user_id,
        )
    new_time = _parse_timestamp(score["timestamp"])
    assert new_time is not None  # validated above
    with sb.mutate() as data:
        history = data["scores"].setdefault(local_id, {}).setdefault(score["userId"], [])
        previous = _parse_timestamp(history[-1]["timestamp"]) if history else None
        # Moodle compares whole seconds: same second or older is a conflict.
        conflict = previous is not None and (
            math.floor(new_time.timestamp()) <= math.floor(previous.timestamp())
        )
        if not conflict:
            score["received_at"] = time.time()
            score["client_id"] = (token or {}).get("client_id")
            history.append(score)
    if conflict:
        return _reject_score(
            sb, 409, "conflict",
            "timestamp is not newer (in whole seconds) than the stored score's",
            local_id, user_id,
        )
    return Response(status=204)


@bp.get("/api/ags/<context_id>/lineitems/<local_id>/results")
def results(context_id: str, local_id: str) -> Response:
    """Result service: the latest result per learner (``user_id`` filter, paging)."""
    error, _token = check_service_call("results", (vocab.SCOPE_RESULT_READONLY,))
    if error is not None:
        return error
    sb = sandbox()
    if _live_lineitem(sb, context_id, local_id) is None:
        return json_error(404, "not_found", "no such line item (or it was deleted)")
    lineitem_url = sb.lineitem_url(context_id, local_id)
    wanted_user = request.args.get("user_id")
    with sb.lock:
        per_user = {
            user: list(history) for user, history in sb.data["scores"].get(local_id, {}).items()
        }
    rows = []
    for user, history in per_user.items():
        if not history or (wanted_user and user != wanted_user):
            continue
        result = result_from_score(history[-1])
        row = {"id": f"{lineitem_url}/results/{user}", "scoreOf": lineitem_url, "userId": user}
        for name in ("resultScore", "resultMaximum", "comment", "timestamp"):
            if name in result:
                row[name] = result[name]
        rows.append(row)
    filters = {"user_id": wanted_user} if wanted_user else {}
    try:
        page, headers = _page(sb, "results", rows, lineitem_url + "/results", filters)
    except PageError as exc:
        return json_error(400, "invalid_request", str(exc))
    return json_response(page, content_type=vocab.MEDIA_RESULT_CONTAINER, headers=headers)
