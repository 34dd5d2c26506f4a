"""Save the tool's main pages as PNG files at desktop and phone width.

    python -m tests.browser.screenshots OUTDIR      (``make screenshots`` writes screenshots/)

Starts its own stack (the tool on localhost, the sandbox LMS on 127.0.0.1, SQLite in a
temporary folder), drives Debian's Chromium through the same walk as the accessibility
test (deep link, attempt, return, resubmission, sign-off, result, record, an error, the
admin page, a registration), with the tool opened as its own page, and saves each page
full length at 1280 and 375 CSS pixels wide: ``NN-name-desktop.png`` and
``NN-name-phone.png``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


class Camera:
    """Saves every page the walk visits, at both widths."""

    def __init__(self, page, outdir: Path) -> None:
        self.page = page
        self.outdir = outdir
        self.saved: list[Path] = []

    def __call__(self, name: str, target) -> None:
        from playwright.sync_api import Frame

        if isinstance(target, Frame):
            # A page the LMS frames (the registration): shown on its own, as the others.
            self.page.goto(target.url)
        number = len(self.saved) // 2 + 1
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(size)
            self.page.wait_for_function(
                "width => document.documentElement.clientWidth === width", arg=size["width"])
            path = self.outdir / f"{number:02d}-{name}-{label}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.saved.append(path)
            print(path, flush=True)
        self.page.set_viewport_size(DESKTOP)


def quiet_logs() -> None:
    """The servers' request and launch logs would drown the list of files."""
    for name in ("werkzeug", "lti_tool"):
        logging.getLogger(name).setLevel(logging.ERROR)


def take(outdir: Path) -> list[Path]:
    """Start the stack and a browser, walk every main page, save the screenshots."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import walk
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import make_backend
    from tests.support.live import start_stack

    outdir.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=walk.TIMEOUT)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory(prefix="lti-tool-screenshots-") as tmp:
        backend = make_backend("sqlite", Path(tmp))
        stack = start_stack(backend, key)
        quiet_logs()  # after the app configured its logging
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                try:
                    context = browser.new_context(viewport=DESKTOP)
                    context.set_default_timeout(walk.TIMEOUT)
                    page = context.new_page()
                    camera = Camera(page, outdir)
                    walk.walk(page, page, stack, camera)
                    # How it looks to people: the tool inside the LMS's frame.
                    frame = walk.open_lms(page, stack)
                    walk.launch(frame, stack, "learner-1", "rl-a1")
                    path = outdir / f"{len(camera.saved) // 2 + 1:02d}-in-the-lms-desktop.png"
                    page.screenshot(path=str(path))
                    camera.saved.append(path)
                    print(path, flush=True)
                finally:
                    browser.close()
        finally:
            stack.stop()
            for cleanup in backend.cleanups:
                cleanup()
    return camera.saved


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tests.browser.screenshots OUTDIR``."""
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder for the PNG files (created)")
    args = parser.parse_args(argv)
    quiet_logs()
    try:
        saved = take(args.outdir)
    except Exception as exc:  # one clear line, as the project's commands do
        print(f"error: screenshots failed: {type(exc).__name__}: {exc}".splitlines()[0],
              file=sys.stderr)
        return 1
    print(f"saved {len(saved)} screenshots in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
