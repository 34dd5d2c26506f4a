"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser).

The sandbox LMS runs on 127.0.0.1 and the tool on localhost: different sites, so the tool
lives in a real cross-site iframe, as in a real LMS.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright (Python) is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def stack(sqlite_backend, tool_private_key):
    from tests.support.live import start_stack

    running = start_stack(sqlite_backend, tool_private_key)
    yield running
    running.stop()
    for cleanup in sqlite_backend.cleanups:
        cleanup()


def axe_violations(frame, *, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core in ``frame`` (a Playwright Page or Frame); serious/critical findings."""
    if not AXE.exists():
        skip_or_fail("axe-core is not installed (npm ci)")
    frame.evaluate(AXE.read_text())
    result = frame.evaluate(
        "async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))"
    )
    violations = json.loads(result)["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in violations if v["impact"] in impacts
    ]


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory, tool_private_key):
    """One live stack for a whole test module (tests keep apart by using different users or
    links): a stack costs about a second to start."""
    from tests.conftest import make_backend
    from tests.support.live import start_stack

    backend = make_backend("sqlite", tmp_path_factory.mktemp("browser-stack"))
    running = start_stack(backend, tool_private_key)
    yield running
    running.stop()
    for cleanup in backend.cleanups:
        cleanup()


@pytest.fixture(scope="session", autouse=True)
def _patient_expectations():
    """Playwright's expect() waits 5 s by default: too little on a busy two-core CI machine."""
    try:
        from playwright.sync_api import expect
    except ImportError:  # the browser fixture says so, and skips or fails
        return
    from tests.browser.walk import TIMEOUT

    expect.set_options(timeout=TIMEOUT)
