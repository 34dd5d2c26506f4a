"""The sandbox's mutable state, in memory behind one lock, optionally snapshotted to JSON."""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import vocab
from .config import SandboxConfig
from .keys import KeyRing, SigningKey, ToolKeySets, load_or_create_private_key
from .world import World, build_world, initial_lineitems, initial_links

FAULT_ENDPOINTS = (
    "token", "scores", "lineitems", "results", "nrps", "register", "jwks",
    "openid_configuration",
)
FAULT_KINDS = ("500", "429", "slow", "drop", "409", "401", "403", "404")

#: How long a launch hint, a used nonce or jti, or a registration token is kept.
HINT_TTL = 3600
REGISTRATION_TOKEN_TTL = 3600
#: Lists kept for tests are capped so a long `make run` does not grow without bound.
LOG_CAP = 200

#: Parts of the state never shown by /control/state: they are bearer secrets.
_SECRET_KEYS = ("access_tokens", "registration_tokens", "hints", "page_tokens")
#: Parts not worth writing to disk on every change (large or short-lived).
_NOT_PERSISTED = ("launches", "page_tokens")


class FaultSpecError(ValueError):
    """A fault switch request names an unknown endpoint or kind, or a bad number."""


def _fresh_data() -> dict[str, Any]:
    return {
        "clients": {},
        "links": initial_links(),
        "lineitems": initial_lineitems(),
        "scores": {},
        "score_rejections": [],
        "hints": {},
        "deep_link_requests": {},
        "deep_link_responses": [],
        "used_nonces": {},
        "used_jtis": {},
        "access_tokens": {},
        "page_tokens": {},
        "registration_tokens": {},
        "registrations": [],
        "faults": [],
        "counts": {},
        "launches": [],
    }


def new_id(prefix: str, nbytes: int = 6) -> str:
    """A random identifier with a readable prefix."""
    return f"{prefix}{secrets.token_hex(nbytes)}"


def mixed_case_token() -> str:
    """An opaque token with upper and lower case letters: case matters when it is looked up."""
    return "Pg" + secrets.token_urlsafe(12) + "Xy"


class Sandbox:
    """Everything the sandbox platform knows; ``app.extensions["sandbox"]`` holds one.

    Reads and writes of ``data`` happen under ``lock`` (use ``mutate()`` for writes, which
    also snapshots to ``config.state_path``). Network calls and sleeps happen outside it.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.world: World = build_world(config.roster_size)
        self.keys = KeyRing(
            SigningKey.from_private_key(load_or_create_private_key(config.key_path))
        )
        self.tool_keys = ToolKeySets(config.http_timeout)
        self.data: dict[str, Any] = _fresh_data()
        self._load()

    # -- persistence ---------------------------------------------------------------------

    def _load(self) -> None:
        path = self.config.state_path
        if path is None or not Path(path).exists():
            return
        try:
            stored = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # A damaged snapshot must not stop the sandbox: start from a fresh world.
            return
        if isinstance(stored, dict):
            for key, value in stored.items():
                if key in self.data and isinstance(value, type(self.data[key])):
                    self.data[key] = value

    def _save(self) -> None:
        path = self.config.state_path
        if path is None:
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + f".{os.getpid()}.tmp")
        persisted = {k: v for k, v in self.data.items() if k not in _NOT_PERSISTED}
        temporary.write_text(json.dumps(persisted), encoding="utf-8")
        os.replace(temporary, target)

    @contextmanager
    def mutate(self) -> Iterator[dict[str, Any]]:
        """Hold the lock, yield the state, then snapshot it to ``state_path`` if set."""
        with self.lock:
            yield self.data
            self._save()

    def reset(self) -> None:
        """Back to the initial world: links, line items, scores, clients, faults, counts."""
        with self.mutate() as data:
            data.clear()
            data.update(_fresh_data())
        self.tool_keys.clear()

    # -- URLs ------------------------------------------------------------------------------

    def lineitems_url(self, context_id: str) -> str:
        """The AGS line items container URL of a context."""
        return self.config.url(f"/api/ags/{context_id}/lineitems")

    def lineitem_url(self, context_id: str, local_id: str) -> str:
        """The AGS URL (and id) of one line item."""
        return self.config.url(f"/api/ags/{context_id}/lineitems/{local_id}")

    def memberships_url(self, context_id: str) -> str:
        """The NRPS context memberships URL of a context."""
        return self.config.url(f"/api/nrps/{context_id}/memberships")

    # -- clients ---------------------------------------------------------------------------

    def default_client(self) -> dict[str, Any]:
        """The client configured by SandboxConfig (always active, all service scopes)."""
        cfg = self.config
        return {
            "client_id": cfg.client_id,
            "deployment_ids": [cfg.deployment_id],
            "status": "active",
            "name": "Configured tool",
            "variant": "configured",
            "login_url": cfg.tool_login_url,
            "redirect_uris": [cfg.tool_launch_url],
            "target_link_uri": cfg.tool_launch_url,
            "deep_link_uri": cfg.tool_launch_url,
            "jwks_url": cfg.tool_jwks_url,
            "scopes": list(vocab.SERVICE_SCOPES),
        }

    def client(self, client_id: str | None) -> dict[str, Any] | None:
        """A copy of the client ``client_id`` (the default client when None), if known."""
        if client_id is None or client_id == self.config.client_id:
            return self.default_client()
        with self.lock:
            found = self.data["clients"].get(client_id)
            return copy.deepcopy(found) if found else None

    def all_clients(self) -> list[dict[str, Any]]:
        """The default client then the registered ones."""
        with self.lock:
            registered = copy.deepcopy(list(self.data["clients"].values()))
        return [self.default_client(), *registered]

    def set_client_status(self, client_id: str, status: str) -> bool:
        """Activate (or hold) a registered client; False when there is no such client."""
        with self.mutate() as data:
            found = data["clients"].get(client_id)
            if found is None:
                return False
            found["status"] = status
            return True

    # -- counters and fault switches -------------------------------------------------------

    def count(self, name: str) -> None:
        """Count one request to ``name`` (counts reach the disk with the next change)."""
        with self.lock:
            counts = self.data["counts"]
            counts[name] = counts.get(name, 0) + 1

    def add_fault(
        self,
        endpoint: str,
        kind: str,
        count: int = 1,
        retry_after: int | None = None,
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Make the next ``count`` calls to ``endpoint`` misbehave as ``kind``."""
        if endpoint not in FAULT_ENDPOINTS:
            raise FaultSpecError(f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)}")
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        if retry_after is not None and (
            not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0
        ):
            raise FaultSpecError("retry_after must be a whole number of seconds")
        if delay is not None and (
            not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 120
        ):
            raise FaultSpecError("delay must be a number of seconds between 0 and 120")
        fault = {
            "endpoint": endpoint, "kind": kind, "remaining": count,
            "retry_after": retry_after if retry_after is not None else 1,
            "delay": delay if delay is not None else 2.0,
        }
        with self.mutate() as data:
            data["faults"].append(fault)
        return dict(fault)

    def take_fault(self, endpoint: str) -> dict[str, Any] | None:
        """Consume one pending fault for ``endpoint``, oldest first."""
        with self.lock:
            data = self.data
            for fault in data["faults"]:
                if fault["endpoint"] == endpoint and fault["remaining"] > 0:
                    fault["remaining"] -= 1
                    taken = dict(fault)
                    data["faults"] = [f for f in data["faults"] if f["remaining"] > 0]
                    self._save()
                    return taken
        return None

    def clear_faults(self) -> None:
        """Drop every pending fault switch."""
        with self.mutate() as data:
            data["faults"] = []

    # -- housekeeping ----------------------------------------------------------------------

    def purge_expired(self, now: float | None = None) -> None:
        """Forget expired hints, nonces, jtis, tokens and page tokens (in memory; the file
        follows with the next change)."""
        now = time.time() if now is None else now
        with self.lock:
            data = self.data
            data["hints"] = {
                k: v for k, v in data["hints"].items() if v["created"] + HINT_TTL > now
            }
            data["used_nonces"] = {k: v for k, v in data["used_nonces"].items() if v > now}
            data["used_jtis"] = {k: v for k, v in data["used_jtis"].items() if v > now}
            data["access_tokens"] = {
                k: v for k, v in data["access_tokens"].items() if v["expires_at"] > now
            }
            data["page_tokens"] = {
                k: v for k, v in data["page_tokens"].items() if v["created"] + HINT_TTL > now
            }

    @staticmethod
    def append_capped(items: list[Any], item: Any) -> None:
        """Append ``item`` and keep the last LOG_CAP entries (call under the lock)."""
        items.append(item)
        del items[:-LOG_CAP]

    # -- views for tests -------------------------------------------------------------------

    def lineitem_view(self, item: dict[str, Any]) -> dict[str, Any]:
        """A line item as AGS shows it (no internal fields, empty optionals left out)."""
        view: dict[str, Any] = {
            "id": self.lineitem_url(item["context_id"], item["local_id"]),
            "label": item["label"],
            "scoreMaximum": item["scoreMaximum"],
        }
        for name in ("resourceId", "tag", "resourceLinkId", "startDateTime", "endDateTime"):
            if item.get(name):
                view[name] = item[name]
        if "gradesReleased" in item:
            view["gradesReleased"] = item["gradesReleased"]
        return view

    def latest_results(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Latest accepted score per line item and user, as gradebook results."""
        results: dict[str, dict[str, Any]] = {}
        for local_id, per_user in data["scores"].items():
            item = data["lineitems"].get(local_id)
            if item is None:
                continue
            url = self.lineitem_url(item["context_id"], local_id)
            results[url] = {user: result_from_score(s[-1]) for user, s in per_user.items() if s}
        return results

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of the state for tests (no bearer secrets)."""
        with self.lock:
            data = copy.deepcopy(self.data)
            results = self.latest_results(data)
        lineitems = []
        for item in data["lineitems"].values():
            view = self.lineitem_view(item)
            view.update(
                {"local_id": item["local_id"], "context_id": item["context_id"],
                 "deleted": item["deleted"]}
            )
            lineitems.append(view)
        scores = {}
        for local_id, per_user in data["scores"].items():
            item = data["lineitems"].get(local_id)
            if item is not None:
                scores[self.lineitem_url(item["context_id"], local_id)] = per_user
        for key in _SECRET_KEYS:
            data.pop(key, None)
        data.update(
            {
                "issuer": self.config.issuer,
                "clients": self.all_clients(),
                "links": list(data["links"].values()),
                "lineitems": lineitems,
                "scores": scores,
                "results": results,
                "deep_link_requests": list(data["deep_link_requests"].values()),
                "jwks_kids": [k["kid"] for k in self.keys.jwks()["keys"]],
            }
        )
        return data


def result_from_score(score: dict[str, Any]) -> dict[str, Any]:
    """The result a stored score leaves in the gradebook (Moodle's rule: no grade unless
    FullyGraded)."""
    result: dict[str, Any] = {
        "userId": score["userId"],
        "activityProgress": score["activityProgress"],
        "gradingProgress": score["gradingProgress"],
        "timestamp": score["timestamp"],
    }
    if score["gradingProgress"] == "FullyGraded" and score.get("scoreGiven") is not None:
        result["resultScore"] = score["scoreGiven"]
        result["resultMaximum"] = score.get("scoreMaximum", 1)
    if score.get("comment") is not None:
        result["comment"] = score["comment"]
    return result
