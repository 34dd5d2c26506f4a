"""The whole OIDC launch over real HTTP: the sandbox LMS on http://127.0.0.1:PORT launches the
tool on http://localhost:PORT (two sites, as real LMSs are), on both storage backends.

One stack per backend serves the module: every launch is independent (its own login,
state and id_token), so the stack is shared to keep the suite fast.
"""

from __future__ import annotations

import re
from html import unescape
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urljoin

import pytest
import requests

from lti_tool.persistence.models import Deployment, LaunchSession
from tests.conftest import make_backend
from tests.support.live import SANDBOX_CLIENT_ID, start_stack
from tests.support.lti_client import LtiBrowser, forms_of


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request, tmp_path_factory, tool_private_key):
    backend = make_backend(request.param, tmp_path_factory.mktemp(request.param))
    made = start_stack(backend, tool_private_key)
    yield made
    made.stop()
    for cleanup in backend.cleanups:
        cleanup()


@pytest.fixture
def browser(stack):
    return LtiBrowser(stack)


def code_of(response: requests.Response) -> str | None:
    return response.headers.get("X-Error-Code")


def who_line(html: str) -> str:
    match = re.search(r'<p class="who">(.*?)</p>', html, re.S)
    assert match, html[:400]
    return " ".join(unescape(match.group(1)).split())


def auth_form(browser: LtiBrowser, **params) -> dict:
    """Run login initiation and the platform's auth step; the form it would auto-post."""
    response = browser.http.get(browser.start_url(**params), allow_redirects=True)
    forms = [f for f in forms_of(response.text) if f["action"].endswith("/lti/launch")]
    assert forms, (response.status_code, response.text[:300])
    return forms[0]


def post_form(browser: LtiBrowser, form: dict, **changes) -> requests.Response:
    return browser.http.post(form["action"], data={**form["fields"], **changes},
                             allow_redirects=False)


@pytest.mark.parametrize(("user", "expected"), [
    ("learner-1", "Alex Morgan · Improving Services · Learner"),
    ("instructor-1", "Chris Taylor · Improving Services · Educator"),
    ("ta-1", "Priya Shah · Improving Services · Educator"),
    ("mentor-1", "Morgan Lee · Improving Services · Mentor"),
    ("admin-1", "Ravi Kumar · Improving Services · Learner"),
])
def test_launch_through_the_sandbox_names_user_course_and_role(browser, user, expected):
    page = browser.launch(user=user, link="rl-a1")
    assert page.status_code < 500 and "/lti/" not in page.url, page.url
    assert browser.launch_session(page)
    assert who_line(page.text) == expected


def test_state_cookie_crosses_sites_as_a_partitioned_cookie(browser, stack):
    response = browser.http.get(browser.start_url(user="learner-1", link="rl-a1"),
                                allow_redirects=False)
    login = browser.http.get(response.headers["Location"], allow_redirects=False)
    assert login.status_code == 302
    assert login.headers["Location"].startswith(stack.lms_url + "/auth?")
    cookie = login.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/lti/"):
        assert attribute in cookie


VARIANT_ROLES = {
    "multiple_roles": "Learner", "short_roles": "Learner", "unknown_role": "Learner",
    "empty_roles": "Learner", "email_only": "Learner", "names_only": "Learner",
    "no_pii": "Learner", "no_context": "Learner", "clock_ahead_3s": "Learner",
}


@pytest.mark.parametrize("variant", VARIANT_ROLES)
@pytest.mark.parametrize("user", ["learner-1", "instructor-1"])
def test_certification_variants_are_accepted(browser, variant, user):
    page = browser.launch(user=user, link="rl-a1", variant=variant)
    assert page.status_code < 500
    assert browser.launch_session(page), code_of(page)
    role = "Educator" if user == "instructor-1" and variant != "empty_roles" else "Learner"
    assert who_line(page.text).endswith(" · " + role)
    if variant == "no_context":
        assert "Improving Services" not in who_line(page.text)


FAULT_CODES = {
    "wrong_kid": "launch_kid_unknown",
    "no_kid": "launch_kid_missing",
    "bad_signature": "launch_signature_invalid",
    "alg_none": "launch_algorithm_invalid",
    "hs256": "launch_algorithm_invalid",
    "expired": "launch_expired",
    "future_iat": "launch_time_invalid",
    "iat_missing": "launch_claim_missing",
    "exp_missing": "launch_claim_missing",
    "wrong_aud": "launch_audience_invalid",
    "extra_aud_no_azp": "launch_audience_invalid",
    "wrong_azp": "launch_audience_invalid",
    "wrong_iss": "launch_issuer_invalid",
    "nonce_mismatch": "launch_nonce_invalid",
    "missing_sub": "launch_claim_missing",
    "missing_roles": "launch_claim_missing",
    "missing_deployment_id": "launch_claim_missing",
    "missing_message_type": "launch_claim_missing",
    "missing_version": "launch_claim_missing",
    "wrong_version": "launch_claim_invalid",
    "missing_resource_link": "launch_claim_missing",
    "missing_resource_link_id": "launch_claim_missing",
    "not_jwt": "launch_token_invalid",
    "wrong_state": "launch_state_invalid",
}


@pytest.mark.parametrize("fault", FAULT_CODES)
def test_each_sandbox_fault_is_refused_with_its_code(browser, fault):
    page = browser.launch(user="learner-1", link="rl-a1", fault=fault)
    assert page.status_code == 400, (fault, page.status_code, page.url)
    assert code_of(page) == FAULT_CODES[fault]
    assert FAULT_CODES[fault] in page.text and "Traceback" not in page.text


def test_unknown_deployment_is_recorded_held_and_names_the_command(browser, stack):
    page = browser.launch(user="learner-1", link="rl-a1", fault="unknown_deployment")
    assert (page.status_code, code_of(page)) == (403, "deployment_not_active")
    command = (f"lti-tool deployment activate --issuer {stack.lms_url} "
               f"--client-id {SANDBOX_CLIENT_ID} sandbox-deployment-unknown")
    assert command in unescape(page.text)
    with stack.runtime.session() as db:
        held = db.query(Deployment).filter_by(deployment_id="sandbox-deployment-unknown").one()
        assert held.active is False


def test_replayed_state_and_id_token_are_refused(browser):
    form = auth_form(browser, user="learner-1", link="rl-a1")
    assert post_form(browser, form).status_code == 303
    replay = post_form(browser, form)
    assert (replay.status_code, code_of(replay)) == (400, "launch_state_invalid")

    # The captured id_token with a fresh state of the attacker's own login.
    fresh = auth_form(browser, user="learner-1", link="rl-a1")
    reused = post_form(browser, fresh, id_token=form["fields"]["id_token"])
    assert (reused.status_code, code_of(reused)) == (400, "launch_replayed")


@pytest.fixture
def own_stack(backend, tool_private_key):
    """A stack of the test's own: the shared one may have spent its key set refetch."""
    made = start_stack(backend, tool_private_key)
    yield made
    made.stop()


def test_platform_key_rotation_is_followed(own_stack):
    stack = own_stack
    browser = LtiBrowser(stack)
    assert browser.launch_session(browser.launch(user="learner-1", link="rl-a1"))
    rotated = requests.post(stack.lms_url + "/control/rotate-key", json={"keep_old": True},
                            timeout=10)
    assert rotated.status_code < 300
    page = browser.launch(user="learner-2", link="rl-a1")
    assert who_line(page.text) == "Sam Patel · Improving Services · Learner"


class _NoCookies(DefaultCookiePolicy):
    """A browser that keeps no cookie in the LMS iframe (the worst case)."""

    def set_ok(self, cookie, request):
        return False


def test_browser_refusing_cookies_is_offered_a_new_window(browser, stack):
    browser.http.cookies.set_policy(_NoCookies())
    page = browser.launch(user="learner-1", link="rl-a1")
    assert (page.status_code, code_of(page)) == (400, "launch_cookie_blocked")
    [form] = [f for f in forms_of(page.text) if f["action"].endswith("/lti/login")]

    window = LtiBrowser(stack)  # a first-party window: cookies work there
    login = window.http.post(urljoin(page.url, form["action"]), data=form["fields"],
                             allow_redirects=True)
    launched = window.submit_auto_form(login)
    assert who_line(launched.text) == "Alex Morgan · Improving Services · Learner"
    with stack.runtime.session() as db:
        ls = window.launch_session(launched)
        assert db.get(LaunchSession, ls).claims["resource_link"]["id"] == "rl-a1"
