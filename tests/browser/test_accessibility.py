"""Every main page of the tool, met as people meet them inside the sandbox LMS's iframe
(LMS on 127.0.0.1, tool on localhost: a real cross-site frame): axe-core finds no serious
or critical violation on any of them, and none scrolls sideways at phone width (375 px).

One walk serves both checks: it costs a deep link, an attempt, a return, a resubmission
and a sign-off, which is most of this test's time.
"""

from __future__ import annotations

import pytest

from tests.browser import walk
from tests.browser.conftest import axe_violations

pytestmark = pytest.mark.browser

EVERY_PAGE = [
    "educator-deep-link-settings",
    "learner-start", "learner-level-1", "learner-level-2", "learner-review",
    "learner-result-waiting",
    "educator-dashboard", "educator-review", "educator-history", "educator-settings",
    "educator-course",
    "learner-start-returned", "learner-level-returned",
    "educator-review-final", "learner-result", "learner-record",
    "error-page", "admin", "registration-confirm",
]


@pytest.mark.timeout(300)
def test_every_page_passes_axe_and_fits_a_phone(page, stack):
    frame = walk.open_lms(page, stack)
    visited: list[str] = []
    violations: dict[str, list[dict]] = {}
    sideways: dict[str, int] = {}

    def visit(name: str, target) -> None:
        visited.append(name)
        found = axe_violations(target)
        if found:
            violations[name] = found
        overflow = walk.sideways_scroll(target)
        if overflow:
            sideways[name] = overflow

    walk.walk(frame, page, stack, visit)

    assert visited == EVERY_PAGE
    assert not violations, "serious or critical axe-core violations:\n" + "\n".join(
        f"{name}: {found}" for name, found in violations.items())
    assert not sideways, (
        f"pages scroll sideways at {walk.PHONE_WIDTH} px (extra px): {sideways}")
