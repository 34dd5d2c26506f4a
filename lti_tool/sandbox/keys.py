"""The sandbox's own signing keys, and the tool key sets it fetches to verify the tool."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

USER_AGENT = "lti-sandbox/0.1 (+lti_tool.sandbox)"


def generate_private_key() -> RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load_or_create_private_key(path: str | os.PathLike[str] | None) -> RSAPrivateKey:
    """Load the PEM key at ``path``, creating it (mode 0600) when missing; or make one."""
    if path is None:
        return generate_private_key()
    key_file = Path(path)
    if key_file.exists():
        stat = key_file.stat()
        return _load_pem(str(key_file.resolve()), stat.st_mtime_ns, stat.st_size)
    key = generate_private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


@lru_cache(maxsize=16)
def _load_pem(path: str, mtime_ns: int, size: int) -> RSAPrivateKey:
    # Parsing checks the RSA key (~80 ms); apps built from one key file share the result.
    loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(loaded, RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return loaded


def public_jwk(public_key: RSAPublicKey, kid: str) -> dict[str, Any]:
    """The public key as a JWK with ``kid``, ``alg`` and ``use``."""
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk


def thumbprint_kid(public_key: RSAPublicKey) -> str:
    """An RFC 7638 JWK thumbprint, used as a stable ``kid`` for a key."""
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """One platform key: the private key object (parsed once) and its ``kid``."""

    private_key: RSAPrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, key: RSAPrivateKey) -> SigningKey:
        """Wrap ``key`` with its thumbprint as ``kid``."""
        return cls(private_key=key, kid=thumbprint_kid(key.public_key()))

    def public_pem(self) -> bytes:
        """The public key in PEM (used as the HMAC secret by the ``hs256`` fault)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class KeyRing:
    """The sandbox's current signing key plus retired ones still published in the JWKS."""

    def __init__(self, current: SigningKey) -> None:
        self._lock = threading.Lock()
        self.current = current
        self.previous: list[SigningKey] = []

    def rotate(self, keep_old: bool = True) -> SigningKey:
        """Sign with a fresh key from now on; keep the old public key published if asked."""
        fresh = SigningKey.from_private_key(generate_private_key())
        with self._lock:
            if keep_old:
                self.previous.insert(0, self.current)
            self.current = fresh
        return fresh

    def jwks(self) -> dict[str, Any]:
        """The public key set: current key first."""
        with self._lock:
            keys = [self.current, *self.previous]
        return {"keys": [public_jwk(k.private_key.public_key(), k.kid) for k in keys]}


@lru_cache(maxsize=1)
def rogue_key() -> RSAPrivateKey:
    """A key nobody publishes: the ``bad_signature`` fault signs with it."""
    return generate_private_key()


class KeySetError(Exception):
    """A tool key set could not be fetched or holds no usable key for a kid."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class ToolKeySets:
    """Tool JWKS fetched over HTTP, cached per URL, refetched once on an unknown kid."""

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, RSAPublicKey]] = {}
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT

    def clear(self) -> None:
        """Forget every cached key set."""
        with self._lock:
            self._cache.clear()

    def key_for(self, jwks_url: str, kid: str) -> RSAPublicKey:
        """The tool's public key ``kid`` from ``jwks_url``; raises KeySetError."""
        with self._lock:
            cached = self._cache.get(jwks_url, {})
        if kid in cached:
            return cached[kid]
        fetched = self._fetch(jwks_url)
        with self._lock:
            self._cache[jwks_url] = fetched
        if kid not in fetched:
            raise KeySetError("unknown_kid", f"kid {kid!r} is not in the tool's key set")
        return fetched[kid]

    def _fetch(self, jwks_url: str) -> dict[str, RSAPublicKey]:
        try:
            response = self._session.get(jwks_url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise KeySetError(
                "jwks_unreachable", f"tool key set {jwks_url} unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise KeySetError(
                "jwks_unreachable", f"tool key set {jwks_url} answered {response.status_code}"
            )
        try:
            body = response.json()
            keys = body["keys"]
        except (ValueError, KeyError, TypeError):
            raise KeySetError("jwks_invalid", "tool key set is not a JWKS document") from None
        found: dict[str, RSAPublicKey] = {}
        for jwk in keys if isinstance(keys, list) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "kid" not in jwk:
                continue
            try:
                public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            except (jwt.InvalidKeyError, ValueError, KeyError):
                continue
            if isinstance(public, RSAPublicKey):
                found[str(jwk["kid"])] = public
        return found
