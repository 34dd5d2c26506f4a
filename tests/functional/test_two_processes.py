"""Two ``lti-tool serve`` processes over one PostgreSQL schema and one Redis, behind a front
URL that alternates requests between them (a small round-robin proxy): launches complete
while login, launch and the pages after it land on different processes. Nothing a launch
needs may live in one process's memory.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import PG_URL, REDIS_URL, TEST_SECRET, make_backend
from tests.support.live import SANDBOX_CLIENT_ID, SANDBOX_DEPLOYMENT_ID, ServerThread
from tests.support.lti_client import LtiBrowser, forms_of

LTI_TOOL = str(Path(sys.executable).parent / "lti-tool")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding",
              "content-length", "te", "trailer", "upgrade", "proxy-connection"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RoundRobinProxy:
    """Forwards each request to the next backend in turn and records who served what."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self.served: list[tuple[int, str, str]] = []  # (backend index, method, path)
        self.http = requests.Session()
        self.server = make_server("localhost", 0, self._app, threaded=True)
        self.url = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            index = next(self._next)
            self.served.append((index, request.method, request.path))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP}
        upstream = self.http.request(
            request.method, self.backends[index] + request.full_path.rstrip("?"),
            headers=headers, data=request.get_data(), allow_redirects=False, timeout=60)
        response = Response(upstream.content, status=upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "set-cookie":
                response.headers[name] = value
        for cookie in upstream.raw.headers.getlist("Set-Cookie"):
            response.headers.add("Set-Cookie", cookie)
        return response(environ, start_response)

    def backend_of(self, method: str, path: str) -> list[int]:
        return [i for i, m, p in self.served if m == method and p == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([LTI_TOOL, *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lti-tool serve exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or slow on a busy machine
            pass
        time.sleep(0.2)
    pytest.fail(f"lti-tool serve did not become healthy: {log.read_text()[-2000:]}")


@pytest.fixture
def deployment(tmp_path):
    """The sandbox LMS, two tool processes on one PostgreSQL schema and Redis, a proxy."""
    from lti_tool.sandbox import SandboxConfig, create_sandbox_app

    backend = make_backend("postgres", tmp_path)  # skips (or fails in CI) without services
    schema = backend.config["database_schema"]
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
    lms = ServerThread("127.0.0.1")
    lms_url = f"http://127.0.0.1:{lms.port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_")}
    env.update({
        "LTI_TOOL_DATABASE_URL": f"{PG_URL}?options={quote(f'-csearch_path={schema}')}",
        "LTI_TOOL_REDIS_URL": REDIS_URL,
        "LTI_TOOL_REDIS_PREFIX": backend.config["redis_prefix"],
        "LTI_TOOL_SECRET_KEY": TEST_SECRET,
        "LTI_TOOL_BASE_URL": proxy.url,
        "LTI_TOOL_INSTANCE_PATH": str(tmp_path / "instance"),
        "LTI_TOOL_LOG_FORMAT": "json",
    })
    run(env, "init")
    run(env, "platform", "add", "--issuer", lms_url, "--client-id", SANDBOX_CLIENT_ID,
        "--auth-login-url", f"{lms_url}/auth", "--auth-token-url", f"{lms_url}/token",
        "--key-set-url", f"{lms_url}/jwks", "--deployment-id", SANDBOX_DEPLOYMENT_ID)
    lms.start(create_sandbox_app(SandboxConfig(
        base_url=lms_url, tool_login_url=f"{proxy.url}/lti/login",
        tool_launch_url=f"{proxy.url}/lti/launch", tool_jwks_url=f"{proxy.url}/lti/jwks",
        client_id=SANDBOX_CLIENT_ID, deployment_id=SANDBOX_DEPLOYMENT_ID)))
    processes = []
    try:
        for n, port in enumerate(ports):
            log = tmp_path / f"serve-{n}.log"
            with log.open("w") as out:
                processes.append((subprocess.Popen(
                    [LTI_TOOL, "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1"], env=env, stdout=out, stderr=subprocess.STDOUT), log))
        for (process, log), backend_url in zip(processes, proxy.backends, strict=True):
            wait_healthy(backend_url, process, log)
        yield proxy, lms_url
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        proxy.stop()
        lms.stop()
        for cleanup in backend.cleanups:
            cleanup()


class _Stack:
    def __init__(self, tool_url: str, lms_url: str) -> None:
        self.tool_url, self.lms_url = tool_url, lms_url


def launch(proxy: RoundRobinProxy, lms_url: str, user: str, link: str) -> str:
    """One launch through the proxy; returns the launch session id it established."""
    browser = LtiBrowser(_Stack(proxy.url, lms_url))
    auth = browser.http.get(browser.start_url(user=user, link=link, message="resource"),
                            timeout=60)
    assert auth.status_code == 200, auth.text[:300]
    form = forms_of(auth.text)[0]
    answer = browser.http.post(urljoin(auth.url, form["action"]), data=form["fields"],
                               allow_redirects=False, timeout=60)
    assert answer.status_code == 303, answer.text[:500]
    return parse_qs(urlsplit(answer.headers["Location"]).query)["ls"][0]


def test_launches_complete_across_two_processes(deployment):
    proxy, lms_url = deployment
    sessions = []
    for user, link in [("learner-1", "rl-a1"), ("instructor-1", "rl-a1"),
                       ("learner-2", "rl-a1")]:
        session_id = launch(proxy, lms_url, user, link)
        sessions.append(session_id)
        # The pages after a launch, twice: one lands on each process, and both know it.
        for _ in range(2):
            page = requests.get(f"{proxy.url}/launch", params={"ls": session_id},
                                allow_redirects=False, timeout=60)
            assert page.status_code in {200, 303}, page.text[:300]
            assert page.headers.get("X-Error-Code") is None

    logins = proxy.backend_of("GET", "/lti/login")
    launches = proxy.backend_of("POST", "/lti/launch")
    pages = proxy.backend_of("GET", "/launch")
    assert len(logins) == len(launches) == 3 and len(pages) == 6
    # State written by one process at login was read by the other at launch.
    assert any(a != b for a, b in zip(logins, launches, strict=True))
    assert set(pages) == {0, 1}
    assert {i for i, _, _ in proxy.served} == {0, 1}
    assert len(set(sessions)) == 3
