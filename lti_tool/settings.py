"""Settings: ``config/default.toml`` overlaid by ``LTI_TOOL_*`` environment variables.

A missing or invalid setting stops start-up with one line naming it (``SettingsError``).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_TOML = PROJECT_ROOT / "config" / "default.toml"
ENV_PREFIX = "LTI_TOOL_"
SECRET_FILE = "secret_key"


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str
    base_url: str
    secret_key: str
    log_format: str = "text"
    log_level: str = "INFO"
    jwt_leeway_seconds: int = 10
    key_set_cache_seconds: int = 3600
    key_set_refetch_seconds: int = 60
    login_state_seconds: int = 600
    launch_session_seconds: int = 28800
    proxy_fix: bool = False
    http_timeout_seconds: float = 15
    sandbox: bool = False
    allow_private_registration_urls: bool = False
    content_path: Path = field(default_factory=lambda: PROJECT_ROOT / "content")
    delivery_thread: str = "auto"
    redis_prefix: str = "lti_tool:"
    # Only for tests: extra keys a test wants to carry (never read from the environment).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_delivery_thread(self) -> bool:
        """Whether the server process delivers grades itself (the embedded default)."""
        if self.delivery_thread == "auto":
            return self.is_sqlite
        return self.delivery_thread == "on"

    def url(self, path: str) -> str:
        """An absolute URL of the tool for ``path`` (which starts with ``/``)."""
        return self.base_url.rstrip("/") + path


_INT = {"jwt_leeway_seconds", "key_set_cache_seconds", "key_set_refetch_seconds",
        "login_state_seconds", "launch_session_seconds"}
_FLOAT = {"http_timeout_seconds"}
_BOOL = {"proxy_fix", "sandbox", "allow_private_registration_urls"}
_KNOWN = {f.name for f in dataclasses.fields(Settings)} - {"extra"}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"setting {name}: expected true or false, got {value!r}")


def _coerce(name: str, value: Any) -> Any:
    try:
        if name in _INT:
            number = int(value)
            if number < 0:
                raise ValueError
            return number
        if name in _FLOAT:
            number = float(value)
            if number <= 0:
                raise ValueError
            return number
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {name}: expected a non-negative number, got {value!r}"
        ) from None
    if name in _BOOL:
        return _as_bool(name, value)
    return str(value).strip() if value is not None else ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: {exc}") from None


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Read the defaults, then ``LTI_TOOL_*`` variables, then ``overrides`` (tests).

    Raises ``SettingsError`` with one line naming the setting at fault.
    """
    environ = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = _read_toml(DEFAULT_TOML)
    unknown = set(raw) - _KNOWN
    if unknown:
        raise SettingsError(f"config/default.toml: unknown setting {sorted(unknown)[0]}")
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name in _KNOWN:
            raw[name] = value
    extra: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in _KNOWN:
            raw[key] = value
        else:
            extra[key] = value
    values = {name: _coerce(name, value) for name, value in raw.items() if name in _KNOWN}

    instance = Path(values.get("instance_path") or "instance")
    if not instance.is_absolute():
        instance = (Path.cwd() / instance).resolve()
    values["instance_path"] = instance

    content = values.get("content_path") or ""
    values["content_path"] = Path(content).resolve() if content else PROJECT_ROOT / "content"

    base_url = values.get("base_url") or ""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"setting base_url: expected an http(s) URL, got {base_url!r}")
    values["base_url"] = base_url.rstrip("/")

    database_url = values.get("database_url") or ""
    if not database_url:
        database_url = f"sqlite:///{instance / 'lti_tool.sqlite3'}"
    if not database_url.startswith(("sqlite", "postgresql")):
        raise SettingsError(
            "setting database_url: expected sqlite:///PATH or postgresql+psycopg://..."
        )
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    values["database_url"] = database_url

    redis_url = values.get("redis_url") or ""
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"setting redis_url: expected redis://..., got {redis_url!r}")

    if values.get("log_format", "text") not in {"text", "json"}:
        raise SettingsError("setting log_format: expected text or json")
    if values.get("delivery_thread", "auto") not in {"auto", "on", "off"}:
        raise SettingsError("setting delivery_thread: expected auto, on or off")

    secret = values.get("secret_key") or ""
    if not secret:
        if not database_url.startswith("sqlite"):
            raise SettingsError(
                "setting secret_key: LTI_TOOL_SECRET_KEY is required with this database "
                "(every host behind one load balancer must share it)"
            )
        secret = _instance_secret(instance)
    elif len(secret) < 32:
        raise SettingsError("setting secret_key: use at least 32 characters")
    values["secret_key"] = secret
    return Settings(**values, extra=extra)


def _instance_secret(instance: Path) -> str:
    """The embedded default's secret, generated once into the instance folder."""
    path = instance / SECRET_FILE
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    try:
        instance.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise SettingsError(f"setting instance_path: cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret
