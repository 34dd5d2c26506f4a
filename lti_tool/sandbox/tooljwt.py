"""Verification of JWTs the tool signs: client assertions and deep linking responses."""

from __future__ import annotations

from typing import Any

import jwt

from .keys import KeySetError
from .state import Sandbox


class Rejected(Exception):
    """A message from the tool is refused; ``code`` is stable, ``description`` says why."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The payload without any check (for logs of refused messages), or None."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims if isinstance(claims, dict) else None


def verify_tool_jwt(
    sandbox: Sandbox, token: str, audiences: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a tool-signed JWT whose ``iss`` is the tool's client id.

    Checks: RS256 only, a kid, the key from the client's JWKS (refetched on an unknown
    kid), the signature, ``iss`` = a known client id, ``aud`` contains one of
    ``audiences``, ``exp`` and ``iat`` present and valid within the configured leeway.
    Returns (client, claims); raises Rejected.
    """
    if not token:
        raise Rejected("missing_jwt", "no JWT was sent")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Rejected("not_a_jwt", "the value is not a JWT") from None
    if header.get("alg") != "RS256":
        raise Rejected("unsupported_alg", f"alg must be RS256, not {header.get('alg')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Rejected("missing_kid", "the JWT header has no kid")
    payload = unverified_claims(token)
    if payload is None:
        raise Rejected("not_a_jwt", "the JWT payload is not a JSON object")
    issuer = payload.get("iss")
    client = sandbox.client(issuer) if isinstance(issuer, str) and issuer else None
    if client is None:
        raise Rejected("unknown_client", "iss is not the client id of a registered tool")
    try:
        key = sandbox.tool_keys.key_for(client["jwks_url"], kid)
    except KeySetError as exc:
        raise Rejected(exc.code, exc.description) from None
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=client["client_id"],
            leeway=sandbox.config.leeway,
            options={"require": ["iss", "aud", "exp", "iat"]},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise Rejected("missing_claim", f"the JWT has no {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise Rejected("bad_signature", "the signature does not verify") from None
    except jwt.ExpiredSignatureError:
        raise Rejected("expired", "exp is in the past") from None
    except jwt.ImmatureSignatureError:
        raise Rejected("iat_in_future", "iat or nbf is in the future") from None
    except jwt.InvalidAudienceError:
        raise Rejected(
            "wrong_audience", "aud must contain " + " or ".join(audiences)
        ) from None
    except jwt.InvalidIssuerError:
        raise Rejected("wrong_issuer", "iss must be the client id") from None
    except jwt.InvalidTokenError as exc:
        raise Rejected("invalid_jwt", f"the JWT is invalid: {type(exc).__name__}") from None
    return client, claims
