"""The launch in real Chromium, inside the sandbox LMS's iframe: the LMS on 127.0.0.1, the
tool on localhost (two sites, as a real LMS and tool are). This Chromium sends no
unpartitioned third-party cookie into such a frame, so these pass only if the tool's
state cookie is partitioned (or the launch needs none).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import walk
from tests.browser.conftest import axe_violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("user", "who", "landing"), [
    ("learner-1", r"Alex Morgan\s*·\s*Improving Services\s*·\s*Learner", r"/learner/"),
    ("instructor-1", r"Chris Taylor\s*·\s*Improving Services\s*·\s*(Educator|Instructor)",
     r"/educator/"),
], ids=["learner", "instructor"])
def test_launch_completes_in_the_cross_site_lms_iframe(page, shared_stack, user, who, landing):
    stack = shared_stack
    walk.open_lms(page, stack)
    frame = walk.click_launch_button(page, stack, user, "rl-a1")

    assert urlsplit(page.url).hostname == "127.0.0.1"
    assert urlsplit(frame.url).hostname == "localhost"
    assert walk.path_is(stack, landing)(frame.url), frame.url
    expect(frame.locator("header .who")).to_have_text(re.compile(who))


def _refuse_framed_cookies(route) -> None:
    """Behave as a browser that keeps no cookie of a site shown inside another site's
    frame (partitioned ones too): the framed launch POST leaves without the state cookie.
    (The Cookie header cannot be set on a routed request; it is read from the store.)"""
    if route.request.frame.parent_frame is not None:
        route.request.frame.page.context.clear_cookies(domain="localhost")
    route.continue_()


def test_blocked_cookies_offer_a_new_window_that_completes_the_launch(page, shared_stack):
    stack = shared_stack
    page.context.route(re.compile(re.escape(stack.tool_url) + r"/lti/launch"),
                       _refuse_framed_cookies)
    walk.open_lms(page, stack)
    frame = walk.click_launch_button(page, stack, "learner-2", "rl-a1")

    expect(frame.locator("h1")).to_have_text("Open the activity in a new window")
    expect(frame.locator(".error-code code")).to_have_text("launch_cookie_blocked")
    assert not axe_violations(frame)
    assert not walk.sideways_scroll(frame)
    with page.expect_popup(timeout=walk.TIMEOUT) as popup_info:
        frame.get_by_role("button", name="Open in a new window").click(timeout=walk.TIMEOUT)
    window = popup_info.value

    # First-party now: the state cookie is kept and the launch completes in the window.
    walk.wait_for_tool_page(window, stack)
    assert walk.path_is(stack, r"/learner/")(window.url), window.url
    expect(window.locator("header .who")).to_have_text(
        re.compile(r"Sam Patel\s*·\s*Improving Services\s*·\s*Learner"))
