"""The admin page: only with a token ``lti-tool admin-token`` issued (never an LMS role),
listing registrations, deployments (held first), keys with their age and grade delivery
health."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import (
    Activity,
    Attempt,
    Deployment,
    GradeOutbox,
    LtiContext,
    LtiUser,
    Registration,
    ResourceLink,
    ToolKey,
)
from lti_tool.services.platforms import PlatformInput, moodle_preset, upsert_platform
from lti_tool.web.admin import AdminTokenError, issue_admin_token, verify_admin_token
from tests.conftest import TEST_SECRET


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"(?s)<[^>]+>", " ", html)).split())


def section(html: str, element_id: str) -> str:
    match = re.search(rf'(?s)<(table|section)[^>]*id="{element_id}".*?</\1>', html)
    assert match, f"no #{element_id}"
    return match.group(0)


def admin_get(client, token):
    return client.get("/admin", query_string={"token": token} if token else None)


# -- the token ------------------------------------------------------------------------------


def test_a_token_opens_the_page_until_it_expires():
    now = time.time()
    token = issue_admin_token(TEST_SECRET, hours=2, now=now)
    expires = verify_admin_token(TEST_SECRET, token, now=now + 3600)
    assert abs(expires.timestamp() - (now + 7200)) < 2
    with pytest.raises(AdminTokenError, match="expired"):
        verify_admin_token(TEST_SECRET, token, now=now + 7201)


def test_a_token_signed_with_another_secret_or_altered_is_refused():
    token = issue_admin_token(TEST_SECRET, hours=1)
    with pytest.raises(AdminTokenError, match="not valid"):
        verify_admin_token("another-secret-" + "y" * 40, token)
    version, expires, nonce, signature = token.split(".")
    longer = f"{version}.{int(expires) + 86400}.{nonce}.{signature}"
    with pytest.raises(AdminTokenError, match="not valid"):
        verify_admin_token(TEST_SECRET, longer)


@pytest.mark.parametrize("hours", [0, -1, 169])
def test_token_lifetimes_are_bounded(hours):
    with pytest.raises(ValueError):
        issue_admin_token(TEST_SECRET, hours=hours)


@pytest.mark.parametrize(("token", "says"), [
    (None, "needs the admin token"),
    ("a1.123.abc.def", "not valid"),
    ("garbage", "not valid"),
])
def test_the_page_refuses_without_a_valid_token(client, token, says):
    page = admin_get(client, token)
    assert page.status_code == 401
    assert page.headers["X-Error-Code"] == "admin_token_invalid"
    assert says in page.get_data(as_text=True)
    assert "Registrations" not in page.get_data(as_text=True)


def test_an_expired_token_says_so(client):
    token = issue_admin_token(TEST_SECRET, hours=1, now=time.time() - 7200)
    page = admin_get(client, token)
    assert page.status_code == 401
    assert "expired" in page.get_data(as_text=True)


def test_an_lms_launch_session_does_not_open_the_page(client):
    page = client.get("/admin", query_string={"ls": "x" * 43})
    assert page.status_code == 401


# -- what it shows --------------------------------------------------------------------------


def _course_rows(dbs, registration: Registration):
    now = utcnow()
    context = LtiContext(registration_id=registration.id, context_id="c1", title="Ward 7",
                         updated_at=now)
    dbs.add(context)
    dbs.flush()
    link = ResourceLink(context_pk=context.id, resource_link_id="rl1", ags_scopes=[],
                        updated_at=now)
    user = LtiUser(registration_id=registration.id, sub="learner-1", name="Alex Morgan",
                   updated_at=now)
    dbs.add_all([link, user])
    dbs.flush()
    activity = Activity(public_id="act-1", registration_id=registration.id,
                        context_pk=context.id, resource_link_pk=link.id, title="SI",
                        settings={}, created_at=now, updated_at=now)
    dbs.add(activity)
    dbs.flush()
    attempt = Attempt(activity_pk=activity.id, user_pk=user.id, number=1, status="final",
                      state={}, created_at=now, updated_at=now)
    dbs.add(attempt)
    dbs.flush()
    return link, user, activity, attempt


def _outbox(dbs, registration, link, user, activity, attempt, status, age: timedelta):
    at = utcnow() - age
    dbs.add(GradeOutbox(registration_id=registration.id, attempt_pk=attempt.id,
                        activity_pk=activity.id, resource_link_pk=link.id, user_pk=user.id,
                        user_sub=user.sub, payload={}, final=True, status=status,
                        next_attempt_at=at, created_at=at))


@pytest.fixture
def arranged(dbs, runtime):
    moodle = upsert_platform(dbs, moodle_preset("https://moodle.example.org", "m-client"))
    canvas = upsert_platform(dbs, PlatformInput(
        name="Canvas", issuer="https://canvas.instructure.com", client_id="10000000000001",
        auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
        auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
        key_set_url="https://sso.canvaslms.com/api/lti/security/jwks",
        deployment_policy="accept", product_family="canvas",
        deployment_ids=["1:active-canvas"]))
    now = utcnow()
    dbs.add_all([
        Deployment(registration_id=moodle.id, deployment_id="7", active=False,
                   first_seen_at=now - timedelta(days=2)),
        Deployment(registration_id=moodle.id, deployment_id="8", active=False,
                   first_seen_at=now - timedelta(days=1)),
    ])
    link, user, activity, attempt = _course_rows(dbs, canvas)
    for status, age in [("pending", timedelta(hours=3)), ("pending", timedelta(minutes=5)),
                        ("delivered", timedelta(days=1)), ("failed", timedelta(hours=2)),
                        ("superseded", timedelta(hours=1))]:
        _outbox(dbs, canvas, link, user, activity, attempt, status, age)
    dbs.commit()
    return moodle, canvas


def test_the_page_lists_registrations_deployments_keys_and_delivery(client, arranged,
                                                                     runtime):
    token = issue_admin_token(TEST_SECRET, hours=1)
    page = admin_get(client, token)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    registrations = text_of(section(html, "registrations"))
    assert "https://moodle.example.org" in registrations and "m-client" in registrations
    assert "https://canvas.instructure.com" in registrations
    assert "10000000000001" in registrations and "accept" in registrations

    deployments = section(html, "deployments")
    rows = re.findall(r'<tr class="(held|active)">.*?<code>([^<]+)</code>', deployments,
                      re.S)
    assert [state for state, _ in rows] == ["held", "held", "active"]  # held first
    assert [d for _, d in rows][:2] == ["8", "7"]  # newest held first
    assert "lti-tool deployment activate --issuer https://moodle.example.org" in unescape(
        deployments)

    keys = text_of(section(html, "keys"))
    with runtime.session() as db:
        [kid] = [k.kid for k in runtime.keyring.list_keys(db)]
    assert kid in keys and "signing" in keys and "0 days" in keys

    health = text_of(section(html, "grade-health"))
    assert re.search(r"Pending 2 Oldest pending 3 hours", health)
    assert "Delivered 1" in health and "Failed (need a person) 1" in health
    assert "Superseded by a newer score 1" in health
    assert "1 score could not be delivered" in health and "lti-tool grades retry" in health
    assert "Check that lti-tool worker is running" in health  # 3 hours is too long


def test_the_page_is_not_framed_nor_leaks_its_token(client, arranged):
    page = admin_get(client, issue_admin_token(TEST_SECRET, hours=1))
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


def test_an_old_signing_key_is_flagged_for_rotation(client, dbs, runtime):
    for key in dbs.scalars(select(ToolKey)):
        key.created_at = utcnow() - timedelta(days=40)
    dbs.commit()
    html = admin_get(client, issue_admin_token(TEST_SECRET, hours=1)).get_data(as_text=True)
    assert "signing key is 40 days old" in text_of(html)
    assert "lti-tool keys rotate" in text_of(html)


def test_an_empty_tool_tells_the_admin_how_to_start(client):
    html = admin_get(client, issue_admin_token(TEST_SECRET, hours=1)).get_data(as_text=True)
    shown = text_of(html)
    assert "No platform is registered yet" in shown and "lti-tool registration-url" in shown
    assert "none waiting" in shown
