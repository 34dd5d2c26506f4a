"""Tool signing keys kept in the database, private halves encrypted with the shared secret.

Every host signs with, and publishes, the same keys. Rotation publishes the new key at once
and signs with it; the old public key stays in the JWKS until it is retired.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import ToolKey

if TYPE_CHECKING:
    from lti_tool.runtime import Runtime


class KeyError_(Exception):
    """A key operation that cannot be done (unknown kid, last key, wrong secret)."""


@dataclass(frozen=True)
class SigningKey:
    """The key new signatures use: its kid, the loaded private key and its PEM."""

    kid: str
    private_key: rsa.RSAPrivateKey
    pem: str


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: datetime
    retired_at: datetime | None
    signing: bool


def _fernet(secret: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"lti-tool key encryption", info=b"tool-keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class Keyring:
    """The tool's RSA keys in the database; loaded private keys are cached per process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._fernet = _fernet(runtime.settings.secret_key)
        self._loaded: dict[str, tuple[rsa.RSAPrivateKey, str]] = {}
        self._lock = threading.Lock()

    # -- writes -----------------------------------------------------------------------
    def create(self, db: Session, private_key: rsa.RSAPrivateKey | None = None) -> str:
        """Store a new 2048-bit key (generated unless given); it signs from now on."""
        if private_key is None:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(6)
        public_jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        public_jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        db.add(
            ToolKey(
                kid=kid,
                private_key_encrypted=self._fernet.encrypt(pem),
                public_jwk=public_jwk,
                created_at=utcnow(),
            )
        )
        db.flush()
        return kid

    def ensure_key(self, db: Session) -> str | None:
        """Create a key when none is live; returns the new kid, or None when one existed."""
        if self._live(db):
            return None
        return self.create(db)

    def rotate(self, db: Session) -> str:
        """Create a new signing key; older keys stay published until retired."""
        return self.create(db)

    def retire(self, db: Session, kid: str) -> None:
        """Stop publishing ``kid``. The key that signs now cannot be retired."""
        live = self._live(db)
        key = next((k for k in live if k.kid == kid), None)
        if key is None:
            raise KeyError_(f"no live key with kid {kid!r}")
        if key is live[-1]:
            raise KeyError_(
                f"key {kid} is the one that signs now: run 'lti-tool keys rotate' first"
            )
        key.retired_at = utcnow()

    # -- reads ------------------------------------------------------------------------
    def _live(self, db: Session) -> list[ToolKey]:
        return list(
            db.scalars(
                select(ToolKey).where(ToolKey.retired_at.is_(None)).order_by(ToolKey.id)
            )
        )

    def list_keys(self, db: Session) -> list[KeyInfo]:
        """Every key, oldest first, with whether it signs now."""
        keys = list(db.scalars(select(ToolKey).order_by(ToolKey.id)))
        live = [k for k in keys if k.retired_at is None]
        signer = live[-1].kid if live else None
        return [KeyInfo(k.kid, k.created_at, k.retired_at, k.kid == signer) for k in keys]

    def jwks(self, db: Session) -> dict:
        """The public keys platforms verify our signatures with (all live keys)."""
        return {"keys": [dict(k.public_jwk) for k in self._live(db)]}

    def signing_key(self, db: Session) -> SigningKey:
        """The newest live key, its private half decrypted once per process."""
        live = self._live(db)
        if not live:
            raise KeyError_("no tool key: run 'lti-tool init' or 'lti-tool keys rotate'")
        row = live[-1]
        with self._lock:
            loaded = self._loaded.get(row.kid)
            if loaded is None:
                try:
                    pem = self._fernet.decrypt(row.private_key_encrypted)
                except InvalidToken:
                    raise KeyError_(
                        "cannot decrypt the tool key: LTI_TOOL_SECRET_KEY differs from the "
                        "one the key was created with"
                    ) from None
                private_key = serialization.load_pem_private_key(pem, password=None)
                loaded = (private_key, pem.decode())
                self._loaded[row.kid] = loaded
        private_key, pem_text = loaded
        return SigningKey(row.kid, private_key, pem_text)
