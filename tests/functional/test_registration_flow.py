"""LTI Dynamic Registration through the sandbox LMS, as an admin does it: the LMS frames the
tool's single-use registration URL, the admin confirms, the LMS registers the tool, and the
new registration launches. Moodle-like and Canvas-like variants; reused, missing and expired
invites; a repeated registration of the same issuer.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from sqlalchemy import select

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Registration, RegistrationInvite
from lti_tool.services.registrations import create_invite, hash_invite, invite_url
from tests.support.live import start_stack
from tests.support.lti_client import LtiBrowser, forms_of

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@pytest.fixture
def stack(backend, tool_private_key):
    made = start_stack(backend, tool_private_key, register=False)
    yield made
    made.stop()


def new_invite(stack, **kwargs) -> str:
    """A fresh registration URL, as ``lti-tool registration-url`` prints it."""
    with stack.runtime.session() as db:
        token, _ = create_invite(db, **kwargs)
    return invite_url(stack.tool_url, token)


def lms_state(stack) -> dict:
    return requests.get(f"{stack.lms_url}/control/state", timeout=10).json()


def text_of(html: str) -> str:
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    return " ".join(unescape(re.sub(r"(?s)<[^>]+>", " ", body)).split())


class Admin:
    """An LMS administrator's browser: starts a registration in the sandbox LMS and works
    through the tool's pages inside the registration frame."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.http = requests.Session()

    def open_registration(self, variant: str, tool_url: str) -> requests.Response:
        """The LMS's registration page, then the tool's page it frames."""
        lms_page = self.http.get(f"{self.stack.lms_url}/register/start",
                                 params={"variant": variant, "tool_url": tool_url}, timeout=30)
        assert lms_page.status_code == 200, lms_page.text[:300]
        frame = re.search(r'<iframe[^>]*\bsrc="([^"]+)"', lms_page.text)
        assert frame, "the LMS page frames no registration"
        return self.http.get(unescape(frame.group(1)), timeout=30)

    def confirm(self, page: requests.Response, *, link_existing: bool = False,
                **changes) -> requests.Response:
        form = next(f for f in forms_of(page.text) if f["id"] == "confirm-form")
        fields = {**form["fields"], **changes}
        if link_existing:
            fields["link_existing"] = "yes"
        return self.http.post(self.stack.tool_url + form["action"], data=fields, timeout=30)


def launch(stack, client_id: str, user: str = "learner-1", link: str = "rl-a1"
           ) -> requests.Response:
    """Launch ``link`` through the LMS as ``client_id``; returns the tool's answer to the
    id_token (not following it), or the LMS's page when the LMS refuses to launch."""
    browser = LtiBrowser(stack)
    page = browser.http.get(browser.start_url(user=user, link=link, message="resource",
                                              client=client_id), timeout=30)
    forms = forms_of(page.text)
    if not forms or not forms[0]["action"].endswith("/lti/launch"):
        return page
    return browser.http.post(urljoin(page.url, forms[0]["action"]), data=forms[0]["fields"],
                             allow_redirects=False, timeout=30)


def assert_launched(response: requests.Response) -> None:
    """The tool verified the launch and sends the browser on with a launch session."""
    assert response.status_code == 303, text_of(response.text)[:400]
    assert "ls=" in response.headers["Location"]


def registration_rows(stack, issuer: str) -> list[Registration]:
    with stack.runtime.session() as db:
        rows = list(db.scalars(select(Registration).where(Registration.issuer == issuer)
                               .order_by(Registration.id)))
        for row in rows:
            _ = row.deployments  # load before the session closes
        return rows


def test_canvas_registration_asks_first_then_registers_and_launches(stack):
    admin = Admin(stack)
    url = new_invite(stack)
    page = admin.open_registration("canvas", url)

    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Register this tool with Canvas?" in shown
    assert stack.lms_url in shown  # the issuer the admin is about to trust
    for placement in ("assignment_selection", "link_selection", "course_navigation"):
        assert placement in shown
    assert "visible to teachers, TAs and admins only" in shown
    assert "public" in shown and "send scores" in shown
    # Nothing is registered before the admin confirms.
    assert lms_state(stack)["counts"].get("register", 0) == 0
    assert registration_rows(stack, stack.lms_url) == []
    # The pages are framed by the LMS, so they must allow it; no inline script.
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text

    done = admin.confirm(page)

    assert done.status_code == 200, text_of(done.text)[:400]
    assert "Registered with Canvas" in text_of(done.text)
    assert "registration/close.js" in done.text and 'data-lti-close' in done.text
    state = lms_state(stack)
    client = next(c for c in state["clients"] if c["variant"] == "canvas")
    sent = next(r for r in state["registrations"] if r["ok"])["request"]
    assert client["status"] == "active"
    assert sent["initiate_login_uri"] == f"{stack.tool_url}/lti/login"
    assert sent["redirect_uris"] == [f"{stack.tool_url}/lti/launch"]
    assert sent["jwks_uri"] == f"{stack.tool_url}/lti/jwks"
    assert sent["token_endpoint_auth_method"] == "private_key_jwt"
    assert set(sent["scope"].split()) == {AGS + "lineitem", AGS + "lineitem.readonly",
                                          AGS + "result.readonly", AGS + "score", NRPS}
    tool = sent[TOOL_CONFIGURATION]
    assert tool["https://canvas.instructure.com/lti/privacy_level"] == "public"
    assert set(tool["claims"]) == {"iss", "sub", "name", "given_name", "family_name", "email"}
    by_type = {m["type"]: m for m in tool["messages"]}
    assert by_type["LtiDeepLinkingRequest"]["placements"] == ["assignment_selection",
                                                              "link_selection"]
    navigation = by_type["LtiResourceLinkRequest"]
    assert navigation["placements"] == ["course_navigation"]
    assert navigation["target_link_uri"] == (f"{stack.tool_url}/lti/launch"
                                             "?placement=course_navigation")
    assert navigation["https://canvas.instructure.com/lti/visibility"] == "admins"

    [row] = registration_rows(stack, stack.lms_url)
    assert row.client_id == client["client_id"]
    assert row.product_family == "canvas" and row.deployment_policy == "accept"
    assert row.auth_login_url == f"{stack.lms_url}/auth"
    assert row.auth_token_url == f"{stack.lms_url}/token"
    assert row.key_set_url == f"{stack.lms_url}/jwks"
    assert [(d.deployment_id, d.active) for d in row.deployments] == [
        (client["deployment_ids"][0], True)]
    token = parse_qs(urlsplit(url).query)["invite"][0]
    with stack.runtime.session() as db:
        invite = db.scalar(select(RegistrationInvite).where(
            RegistrationInvite.token_hash == hash_invite(token)))
        assert invite.used_at is not None and invite.registration_id == row.id

    assert_launched(launch(stack, client["client_id"]))
    # And on to the learner's page, which names the learner the launch established.
    landed = LtiBrowser(stack).launch("learner-1", "rl-a1", client=client["client_id"])
    assert landed.status_code == 200 and landed.url.startswith(stack.tool_url)
    assert "Alex Morgan" in text_of(landed.text)


def test_moodle_registration_is_pending_until_an_admin_activates_it(stack):
    admin = Admin(stack)
    page = admin.open_registration("moodle", new_invite(stack))
    assert "Register this tool with Moodle?" in text_of(page.text)
    assert "pending" in text_of(page.text)

    done = admin.confirm(page)

    assert done.status_code == 200
    shown = text_of(done.text)
    assert "Moodle has added the tool as pending" in shown
    assert "must activate it" in shown
    client = next(c for c in lms_state(stack)["clients"] if c["variant"] == "moodle")
    assert client["status"] == "pending"
    [row] = registration_rows(stack, stack.lms_url)
    assert row.product_family == "moodle" and row.deployment_policy == "hold"
    assert [(d.deployment_id, d.active) for d in row.deployments] == [
        (client["deployment_ids"][0], True)]

    refused = launch(stack, client["client_id"])
    assert "client_pending" in refused.text

    requests.post(f"{stack.lms_url}/control/clients/{client['client_id']}/activate",
                  timeout=10).raise_for_status()
    assert_launched(launch(stack, client["client_id"]))


def test_a_used_registration_url_is_refused_without_calling_the_lms(stack):
    admin = Admin(stack)
    url = new_invite(stack)
    assert admin.confirm(admin.open_registration("canvas", url)).status_code == 200
    fetched = lms_state(stack)["counts"]["openid_configuration"]

    again = admin.open_registration("canvas", url)

    assert again.status_code == 403
    assert again.headers["X-Error-Code"] == "registration_invite_invalid"
    assert "used already" in text_of(again.text)
    assert "lti-tool registration-url" in text_of(again.text)
    assert lms_state(stack)["counts"]["openid_configuration"] == fetched
    assert len(registration_rows(stack, stack.lms_url)) == 1


@pytest.mark.parametrize(("mangle", "says"), [
    (lambda url: url.split("?")[0], "has no invite"),
    (lambda url: url[:-4] + "AAAA", "not one the tool issued"),
])
def test_a_missing_or_unknown_invite_is_refused(stack, mangle, says):
    page = Admin(stack).open_registration("moodle", mangle(new_invite(stack)))

    assert page.status_code == 403
    assert page.headers["X-Error-Code"] == "registration_invite_invalid"
    assert says in text_of(page.text)
    assert lms_state(stack)["counts"].get("openid_configuration", 0) == 0


def test_an_expired_invite_is_refused(stack):
    url = new_invite(stack, hours=1)
    token = parse_qs(urlsplit(url).query)["invite"][0]
    with stack.runtime.session() as db:
        invite = db.scalar(select(RegistrationInvite).where(
            RegistrationInvite.token_hash == hash_invite(token)))
        invite.expires_at = utcnow() - timedelta(minutes=1)

    page = Admin(stack).open_registration("canvas", url)

    assert page.status_code == 403
    assert "expired" in text_of(page.text)


def test_registering_an_issuer_again_needs_the_admin_to_link_it(stack):
    admin = Admin(stack)
    assert admin.confirm(admin.open_registration("canvas", new_invite(stack))).status_code == 200
    registered = lms_state(stack)["counts"]["register"]

    page = admin.open_registration("canvas", new_invite(stack))
    shown = text_of(page.text)
    assert "This LMS is already registered" in shown
    assert "Link to the existing issuer" in shown
    refused = admin.confirm(page)

    assert refused.status_code == 409
    assert refused.headers["X-Error-Code"] == "registration_issuer_exists"
    assert "already registered" in text_of(refused.text)
    assert lms_state(stack)["counts"]["register"] == registered  # the LMS was not asked
    assert len(registration_rows(stack, stack.lms_url)) == 1

    linked = admin.confirm(page, link_existing=True)

    assert linked.status_code == 200
    rows = registration_rows(stack, stack.lms_url)
    assert len(rows) == 2 and rows[0].client_id != rows[1].client_id


def test_the_confirm_form_needs_its_csrf_token(stack):
    admin = Admin(stack)
    page = admin.open_registration("canvas", new_invite(stack))

    forged = admin.confirm(page, csrf_token="0" * 64)

    assert forged.status_code == 403
    assert forged.headers["X-Error-Code"] == "csrf_failed"
    assert lms_state(stack)["counts"].get("register", 0) == 0


def test_opening_the_registration_url_outside_an_lms_explains_where_to_paste_it(stack):
    page = requests.get(new_invite(stack), timeout=10)

    assert page.status_code == 400
    assert page.headers["X-Error-Code"] == "registration_not_from_platform"
    assert "Tool URL" in text_of(page.text)


def test_the_registration_frame_page_is_the_one_the_lms_framed(stack):
    """The sandbox's start page frames the tool URL with the two DR parameters added."""
    url = new_invite(stack)
    lms_page = requests.get(f"{stack.lms_url}/register/start",
                            params={"variant": "canvas", "tool_url": url}, timeout=10)
    frame = unescape(re.search(r'<iframe[^>]*\bsrc="([^"]+)"', lms_page.text).group(1))
    query = parse_qs(urlsplit(frame).query)
    assert set(query) == {"invite", "openid_configuration", "registration_token"}
