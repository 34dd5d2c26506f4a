"""Interoperability: launches signed by Open edX's own LTI 1.3 code, not by ours.

lti-consumer-xblock (PyPI, the ``interop`` extra) runs in a subprocess as an Open edX
platform (platform_openedx.py): its ``LtiAdvantageConsumer`` builds the login initiation,
answers the tool's authorization request at Open edX's launch gate, and signs the id_token.
A requests-based browser carries the launch between them, cookies and all, as the
learner's iframe would. These tests look at what that browser is shown.
"""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.interop

COURSE_TITLE = "Service improvement for ward teams"
WHO_LINE = re.compile(r'<p class="who">(.*?)</p>', re.S)
ERROR_CODE = re.compile(r'class="error-code">Error code: <code>([a-z_]+)</code>')


def new_launch(**changes):
    """An Open edX launch as the LMS describes it to lti-consumer-xblock."""
    course = f"course-v1:NHS+KSF{uuid.uuid4().hex[:6]}+2026"
    launch = dict(
        user_id=str(uuid.uuid4()),  # Open edX sends its anonymous user id as sub
        role="student",
        name="Ada Okafor",
        email="ada.okafor@example.org",
        preferred_username="ada_o",
        context_id=course,
        context_title=COURSE_TITLE,
        context_label="KSF C4",
        resource_link_id=f"block-v1:{course[10:]}+type@lti_consumer+block@{uuid.uuid4().hex}",
    )
    launch.update(changes)
    return launch


def who_line(page: dict) -> list[str]:
    """The header every launched page shows: user · course · role understood."""
    found = WHO_LINE.search(page["text"])
    assert found, f"no user/course/role line on the page: {page['status']} {page['text'][:500]}"
    return [html.unescape(part).strip() for part in found.group(1).split("·")]


def shown_error_code(page: dict) -> str | None:
    found = ERROR_CODE.search(page["text"])
    return found.group(1) if found else None


def assert_launched(result: dict) -> dict:
    page = result["launch"]
    assert result["reached_platform"], (
        f"the tool's login did not send the browser to Open edX's launch gate: "
        f"{page['status']} {page['url']} {page['text'][:500]}")
    assert page["status"] == 200, (
        f"launch refused: {page['status']} {page['error_code']} {page['text'][:800]}")
    assert "ls" in parse_qs(urlsplit(page["url"]).query), page["url"]
    return page


def assert_refused(page: dict, code: str) -> None:
    assert 400 <= page["status"] < 500, (page["status"], page["text"][:800])
    assert page["error_code"] == code
    assert shown_error_code(page) == code, page["text"][:800]
    # Refused launches never reach a launched page.
    assert "ls" not in parse_qs(urlsplit(page["url"]).query)
    assert "Traceback" not in page["text"]


def test_tool_login_sends_an_oidc_authorization_request_open_edx_accepts(tool, openedx):
    result = openedx.launch(tool.url, **new_launch())

    assert result["login"]["history"][0] == [302, f"{tool.url}/lti/login"]
    request = result["auth_request"]
    assert request["scope"] == "openid"
    assert request["response_type"] == "id_token"
    assert request["response_mode"] == "form_post"
    assert request["prompt"] == "none"
    assert request["client_id"] == openedx.client_id
    assert request["redirect_uri"] == f"{tool.url}/lti/launch"
    # Open edX finds its launch data again by lti_message_hint: the tool must echo it.
    assert request["lti_message_hint"]
    assert result["form"] == {"action": f"{tool.url}/lti/launch", "method": "post",
                              "fields": ["id_token", "state"]}
    assert_launched(result)


@pytest.mark.parametrize(
    ("openedx_role", "understood"),
    [
        ("student", "Learner"),
        # Open edX course staff: membership#Instructor.
        ("staff", "Educator"),
        # Open edX course instructor (admin): membership#Administrator and #Instructor.
        ("instructor", "Educator"),
        # A discussion TA: membership#Learner and membership/Instructor#TeachingAssistant.
        ("Community TA", "Teaching assistant"),
        # Global staff: system and institution Administrator (which open nothing) beside
        # membership#Administrator and membership#Instructor (which opens the educator view).
        ("global_staff", "Educator"),
    ],
)
def test_open_edx_launch_shows_the_user_course_and_role_understood(
    tool, openedx, openedx_role, understood
):
    launch = new_launch(role=openedx_role, name=f"Sam {openedx_role.title()}")

    page = assert_launched(openedx.launch(tool.url, **launch))

    assert who_line(page) == [launch["name"], COURSE_TITLE, understood]


def test_open_edx_launch_page_may_be_framed_by_open_edx(tool, openedx):
    page = assert_launched(openedx.launch(tool.url, **new_launch()))

    csp = page["csp"] or ""
    assert "frame-ancestors" in csp, csp
    ancestors = csp.split("frame-ancestors", 1)[1].split(";", 1)[0].split()
    assert openedx.issuer in ancestors, csp


def test_open_edx_launch_form_posted_again_is_refused(tool, openedx):
    # The browser's back button, or a second click: the login's state is used up.
    result = openedx.launch(tool.url, **new_launch(replay="same_form"))

    assert_launched(result)
    assert_refused(result["replay"], "launch_state_invalid")


def test_open_edx_id_token_replayed_with_a_fresh_login_is_refused_as_a_replay(tool, openedx):
    # Someone who captured the id_token starts a login of their own and posts it with
    # their fresh state: the id_token itself is single use.
    result = openedx.launch(tool.url, **new_launch(replay="fresh_login"))

    assert_launched(result)
    assert_refused(result["replay"], "launch_replayed")


@pytest.mark.parametrize(
    ("signer", "code"),
    [
        # The published kid, but a key Open edX never published.
        ("other_key_same_kid", "launch_signature_invalid"),
        # A kid that is not in Open edX's key set, even after the tool refetches it.
        ("other_key_other_kid", "launch_kid_unknown"),
    ],
)
def test_launch_signed_with_another_open_edx_key_is_refused(tool, openedx, signer, code):
    result = openedx.launch(tool.url, **new_launch(sign_with=signer))

    assert result["reached_platform"], result["launch"]["text"][:500]
    assert_refused(result["launch"], code)


def test_open_edx_deep_linking_adds_an_activity_open_edx_accepts(tool, openedx):
    # Open edX Studio's deep-linking flow: course staff choose the settings, the tool answers
    # with a signed LtiDeepLinkingResponse, and Open edX checks it against the tool's JWKS
    # and through its own content item serializers before storing the link.
    dl_launch = new_launch(
        role="staff", name="Dee Educator", message_type="LtiDeepLinkingRequest",
        deep_link_form={"title": "Ward improvement check", "top_level": "3",
                        "target_level": "2"},
    )

    result = openedx.launch(tool.url, **dl_launch)

    page = assert_launched(result)
    assert who_line(page) == ["Dee Educator", COURSE_TITLE, "Educator"]
    assert "deep_link_return" in result, (
        result.get("deep_link_error") or result["deep_link_page"]["text"][:800])
    assert result["deep_link_form"]["action"] == openedx.deep_link_return_url
    returned = result["deep_link_return"]
    assert returned["status"] == 200, returned["json"]
    (item,) = returned["json"]["content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == "Ward improvement check"
    assert item["url"] == f"{tool.url}/lti/launch"
    assert item["lineItem"]["scoreMaximum"] == 3
    assert item["lineItem"]["label"] == "Ward improvement check"
    assert item["custom"]["activity_id"] == item["lineItem"]["resourceId"]
    claims = returned["json"]["claims"]
    assert returned["json"]["alg"] == "RS256"
    assert claims["iss"] == openedx.client_id
    assert claims["aud"] == openedx.issuer
    assert claims["deployment_id"] == openedx.deployment_id
    assert claims["message_type"] == "LtiDeepLinkingResponse"
    assert claims["version"] == "1.3.0"
    # Open edX sends no data in its request, so none comes back.
    assert claims["data"] is None
    assert 0 < claims["lifetime_seconds"] <= 3600

    # Open edX then launches the stored link with the item's custom parameters.
    learner = new_launch(
        role="student", name="Lee Learner", context_id=dl_launch["context_id"],
        custom=item["custom"],
    )
    page = assert_launched(openedx.launch(tool.url, **learner))
    assert who_line(page) == ["Lee Learner", COURSE_TITLE, "Learner"]
    assert "<h1>Ward improvement check</h1>" in page["text"]
    assert "Your target is <strong>level 2</strong>" in page["text"]
