"""Deep Linking 2.0, platform side: verify the tool's response and add the activity."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Response, render_template, request

from . import vocab
from .http import html_error, sandbox
from .state import Sandbox, new_id
from .tooljwt import Rejected, unverified_claims, verify_tool_jwt

bp = Blueprint("deep_linking", __name__)


def _is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _check_item(item: Any, index: int) -> dict[str, Any]:
    where = f"content_items[{index}]"
    if not isinstance(item, dict):
        raise Rejected("bad_content_items", f"{where} is not an object")
    if item.get("type") != "ltiResourceLink":
        raise Rejected(
            "unaccepted_type", f"{where}.type {item.get('type')!r} is not in accept_types"
        )
    for name in ("title", "text"):
        if name in item and not isinstance(item[name], str):
            raise Rejected("bad_content_items", f"{where}.{name} must be a string")
    if item.get("url") is not None and not _is_absolute_url(item["url"]):
        raise Rejected("bad_content_items", f"{where}.url must be an absolute http(s) URL")
    custom = item.get("custom", {})
    if custom is None:
        custom = {}
    if not isinstance(custom, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in custom.items()
    ):
        raise Rejected("bad_custom", f"{where}.custom must map strings to strings")
    line_item = item.get("lineItem")
    if line_item is not None:
        if not isinstance(line_item, dict):
            raise Rejected("bad_line_item", f"{where}.lineItem must be an object")
        maximum = line_item.get("scoreMaximum")
        if (not isinstance(maximum, int | float) or isinstance(maximum, bool)
                or maximum <= 0):
            raise Rejected(
                "bad_line_item", f"{where}.lineItem.scoreMaximum must be a number above 0"
            )
        for name in ("label", "resourceId", "tag"):
            if name in line_item and not isinstance(line_item[name], str):
                raise Rejected("bad_line_item", f"{where}.lineItem.{name} must be a string")
    return {"title": item.get("title"), "text": item.get("text"), "url": item.get("url"),
            "custom": custom, "lineItem": line_item}


def accept_response(sb: Sandbox, token: str) -> dict[str, Any]:
    """Verify an LtiDeepLinkingResponse and create its links; returns what was done."""
    client, claims = verify_tool_jwt(sb, token, [sb.config.issuer])
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise Rejected("missing_nonce", "the response has no nonce")
    if claims.get(vocab.CLAIM_MESSAGE_TYPE) != vocab.MESSAGE_DEEP_LINKING_RESPONSE:
        raise Rejected("wrong_message_type", "message_type must be LtiDeepLinkingResponse")
    if claims.get(vocab.CLAIM_VERSION) != vocab.LTI_VERSION:
        raise Rejected("wrong_version", "version must be 1.3.0")
    data_value = claims.get(vocab.CLAIM_DL_DATA)
    with sb.lock:
        dl_request = (
            dict(sb.data["deep_link_requests"].get(data_value) or {})
            if isinstance(data_value, str) else {}
        )
    if not dl_request or dl_request["client_id"] != client["client_id"]:
        raise Rejected("data_mismatch", "data is not the value the platform sent")
    if claims.get(vocab.CLAIM_DEPLOYMENT_ID) != dl_request["deployment_id"]:
        raise Rejected("wrong_deployment", "deployment_id differs from the request's")
    items = claims.get(vocab.CLAIM_DL_CONTENT_ITEMS, [])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise Rejected("bad_content_items", "content_items must be a list")
    if len(items) > 1:
        raise Rejected("too_many_items", "accept_multiple is false: at most one item")
    checked = [_check_item(item, index) for index, item in enumerate(items)]

    created: list[dict[str, Any]] = []
    with sb.mutate() as data:
        nonce_key = f"{client['client_id']}:{nonce}"
        if nonce_key in data["used_nonces"]:
            raise Rejected("nonce_reused", "this nonce was used before")
        stored_request = data["deep_link_requests"].get(data_value)
        if stored_request is None or stored_request["used"]:
            raise Rejected("request_used", "this deep linking request was answered already")
        data["used_nonces"][nonce_key] = float(claims["exp"]) + sb.config.leeway
        stored_request["used"] = True
        for item in checked:
            link_id = new_id("rl-dl-", 4)
            link = {
                "id": link_id, "context_id": dl_request["context_id"],
                "title": item["title"] or "Untitled activity", "text": item["text"] or "",
                "url": item["url"], "custom": item["custom"], "lineitem_id": None,
                "client_id": client["client_id"], "created_by": "deep_link",
            }
            if item["lineItem"] is not None:
                line_item = item["lineItem"]
                local_id = new_id("li-", 4)
                data["lineitems"][local_id] = {
                    "local_id": local_id, "context_id": dl_request["context_id"],
                    "label": line_item.get("label") or link["title"],
                    "scoreMaximum": line_item["scoreMaximum"],
                    "resourceId": line_item.get("resourceId", ""),
                    "tag": line_item.get("tag", ""), "resourceLinkId": link_id,
                    "startDateTime": None, "endDateTime": None, "deleted": False,
                    "client_id": client["client_id"],
                }
                link["lineitem_id"] = local_id
            data["links"][link_id] = link
            created.append(dict(link))
    return {
        "client_id": client["client_id"], "claims": claims, "created_links": created,
        "msg": claims.get(vocab.CLAIM_DL_MSG), "errormsg": claims.get(vocab.CLAIM_DL_ERRORMSG),
    }


def _record(sb: Sandbox, entry: dict[str, Any]) -> None:
    with sb.mutate() as data:
        sb.append_capped(data["deep_link_responses"], {"received_at": time.time(), **entry})


@bp.post("/deep-link/return")
def deep_link_return() -> Response:
    """The deep_link_return_url: a form POST with the JWT field."""
    sb = sandbox()
    sb.count("deep_link_return")
    token = request.form.get("JWT", "")
    try:
        outcome = accept_response(sb, token)
    except Rejected as exc:
        _record(sb, {"ok": False, "error": exc.code, "reason": exc.description,
                     "claims": unverified_claims(token) if token else None,
                     "created_links": []})
        return html_error(400, exc.code, exc.description)
    _record(sb, {"ok": True, "error": None, "reason": None, "claims": outcome["claims"],
                 "client_id": outcome["client_id"],
                 "created_links": [link["id"] for link in outcome["created_links"]]})
    page = render_template(
        "deep_link_result.html", links=outcome["created_links"], msg=outcome["msg"],
        errormsg=outcome["errormsg"],
    )
    return Response(page, content_type="text/html; charset=utf-8")
