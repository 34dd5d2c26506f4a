"""Deep Linking 2.0, tool side: the signed ``LtiDeepLinkingResponse``.

Built with PyJWT and the Keyring's loaded private key (signing with a key object costs
~0.3 ms; pylti1p3 re-parses a PEM on every signature, ~37 ms). Unlike pylti1p3 2.0.0,
``data`` is echoed only when the platform sent it, exactly as sent, and ``custom`` only
when there is something in it (FACTS.md, PyLTI1p3 point 9).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from lti_tool.lti.claims import LTI_VERSION, Claim

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLAIM_CONTENT_ITEMS = DL + "content_items"
CLAIM_DATA = DL + "data"
CLAIM_MSG = DL + "msg"
CLAIM_LOG = DL + "log"
CLAIM_ERRORMSG = DL + "errormsg"
CLAIM_ERRORLOG = DL + "errorlog"
RESPONSE_MESSAGE_TYPE = "LtiDeepLinkingResponse"

#: A response is posted by the browser at once; five minutes covers a slow network.
RESPONSE_LIFETIME_SECONDS = 300
#: The tag of the line items the tool creates (the grading side looks for the same one).
LINEITEM_TAG = "ksf-level"


@dataclass(frozen=True)
class LineItem:
    """The gradebook column the platform creates with the link."""

    label: str
    score_maximum: int
    resource_id: str
    tag: str = LINEITEM_TAG

    def to_json(self) -> dict[str, Any]:
        """The ``lineItem`` object of a content item."""
        return {"label": self.label, "scoreMaximum": self.score_maximum,
                "resourceId": self.resource_id, "tag": self.tag}


def resource_link_item(
    *, title: str, url: str, line_item: LineItem | None = None,
    custom: dict[str, str] | None = None, text: str | None = None,
) -> dict[str, Any]:
    """An ``ltiResourceLink`` content item (custom values are strings, as the spec says)."""
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title, "url": url}
    if text:
        item["text"] = text
    if line_item is not None:
        item["lineItem"] = line_item.to_json()
    if custom:
        item["custom"] = {str(k): str(v) for k, v in custom.items()}
    return item


def response_claims(
    *, client_id: str, platform_issuer: str, deployment_id: str,
    content_items: list[dict[str, Any]], settings: dict[str, Any] | None,
    msg: str | None = None, errormsg: str | None = None, now: int | None = None,
) -> dict[str, Any]:
    """The claims of an ``LtiDeepLinkingResponse``.

    ``settings`` is the request's ``deep_linking_settings`` claim; its ``data`` is echoed
    when the platform sent one (a missing or null ``data`` is not sent back).
    """
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": platform_issuer,
        "iat": issued,
        "exp": issued + RESPONSE_LIFETIME_SECONDS,
        "nonce": secrets.token_urlsafe(24),
        Claim.MESSAGE_TYPE.value: RESPONSE_MESSAGE_TYPE,
        Claim.VERSION.value: LTI_VERSION,
        Claim.DEPLOYMENT_ID.value: deployment_id,
        CLAIM_CONTENT_ITEMS: content_items,
    }
    data = (settings or {}).get("data")
    if data is not None:
        claims[CLAIM_DATA] = data
    if msg:
        claims[CLAIM_MSG] = msg
    if errormsg:
        claims[CLAIM_ERRORMSG] = errormsg
    return claims


def sign_response(claims: dict[str, Any], signing_key: Any) -> str:
    """Sign the claims with the tool's current key (``Keyring.signing_key(db)``): RS256,
    with its ``kid`` in the header so the platform finds it in our JWKS."""
    return jwt.encode(claims, signing_key.private_key, algorithm="RS256",
                      headers={"kid": signing_key.kid, "typ": "JWT"})


def build_response(
    *, signing_key: Any, client_id: str, platform_issuer: str, deployment_id: str,
    content_items: list[dict[str, Any]], settings: dict[str, Any] | None,
    msg: str | None = None, errormsg: str | None = None,
) -> str:
    """The signed ``LtiDeepLinkingResponse`` JWT for the platform's return URL."""
    return sign_response(
        response_claims(client_id=client_id, platform_issuer=platform_issuer,
                        deployment_id=deployment_id, content_items=content_items,
                        settings=settings, msg=msg, errormsg=errormsg),
        signing_key,
    )
