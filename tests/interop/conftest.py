"""Fixtures for the interoperability tests: an Open edX platform (lti-consumer-xblock, in a
subprocess of its own) and the tool on http://localhost:PORT with that platform registered.

The platform runs in a subprocess so that Django's global settings and caches never touch
the test process; it talks JSON lines over stdin/stdout (see platform_openedx.py).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build_app, skip_or_fail
from tests.support.live import ServerThread

PLATFORM_SCRIPT = Path(__file__).with_name("platform_openedx.py")
START_TIMEOUT_SECONDS = 60
COMMAND_TIMEOUT_SECONDS = 90


def _missing_interop_extra() -> str | None:
    for module in ("lti_consumer", "django"):
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not importable: install the test-only extra with "
                    "pip install -e '.[dev,interop]'")
    return None


class OpenEdxProcess:
    """The platform subprocess: one JSON command a line in, one JSON answer a line out."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        # stderr goes to a file: a full pipe nobody reads would hang the platform.
        self.process = subprocess.Popen(
            [sys.executable, str(PLATFORM_SCRIPT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next(START_TIMEOUT_SECONDS)
        if "ready" not in ready:
            raise RuntimeError(f"Open edX platform did not start: {ready}")
        self.info: dict[str, str] = ready["ready"]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"Open edX platform did not answer within {timeout} s; "
                               f"its log: {self.stderr_tail()}") from None
        if line is None:
            raise RuntimeError(f"Open edX platform exited; its log: {self.stderr_tail()}")
        return json.loads(line)

    def stderr_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]

    def command(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._next(COMMAND_TIMEOUT_SECONDS)
        if not answer.get("ok"):
            raise RuntimeError(f"Open edX platform failed: {answer.get('error')}; "
                               f"its log: {self.stderr_tail()}")
        return answer["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.command(op="quit")
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class OpenEdxPlatform:
    """The test's handle on the Open edX platform: its registration data and launches."""

    def __init__(self, process: OpenEdxProcess) -> None:
        self.process = process
        info = process.info
        self.issuer: str = info["issuer"]
        self.client_id: str = info["client_id"]
        self.deployment_id: str = info["deployment_id"]
        self.auth_login_url: str = info["auth_login_url"]
        self.auth_token_url: str = info["auth_token_url"]
        self.key_set_url: str = info["key_set_url"]
        self.deep_link_return_url: str = info["deep_link_return_url"]

    def launch(self, tool_url: str, **spec: Any) -> dict[str, Any]:
        """Run one launch (fields of LaunchSpec in platform_openedx.py) and return what the
        browser saw: ``launch`` (and ``replay``, ``deep_link_page``) pages with status, url,
        error_code, csp and text; ``auth_request``; ``deep_link_return``."""
        return self.process.command(op="launch", tool_url=tool_url, launch=spec)


@pytest.fixture(scope="session")
def openedx(tmp_path_factory):
    """One Open edX platform per test process (its keys and client id stay the same)."""
    problem = _missing_interop_extra()
    if problem:
        skip_or_fail(problem)
    process = OpenEdxProcess(tmp_path_factory.mktemp("openedx") / "platform.log")
    yield OpenEdxPlatform(process)
    process.stop()


@dataclass
class LiveTool:
    url: str
    app: Any
    runtime: Any


def register_openedx(runtime, openedx: OpenEdxPlatform, **changes: Any) -> None:
    """Register the Open edX platform with the tool, as an admin would by hand."""
    from lti_tool.services.platforms import PlatformInput, upsert_platform

    fields = dict(
        name="Open edX", issuer=openedx.issuer, client_id=openedx.client_id,
        auth_login_url=openedx.auth_login_url, auth_token_url=openedx.auth_token_url,
        key_set_url=openedx.key_set_url, deployment_ids=[openedx.deployment_id],
    )
    fields.update(changes)
    with runtime.session() as db:
        upsert_platform(db, PlatformInput(**fields))


@pytest.fixture
def tool(openedx, backend, tool_private_key):
    """The tool on http://localhost:PORT with the Open edX platform registered."""
    server = ServerThread("localhost")
    url = f"http://localhost:{server.port}"
    app = build_app(backend, tool_private_key, base_url=url)
    runtime = app.extensions["lti_tool"]
    register_openedx(runtime, openedx)
    server.start(app)
    yield LiveTool(url, app, runtime)
    server.stop()
