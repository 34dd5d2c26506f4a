"""The platform client against the sandbox LMS: tokens, their cache, paging, errors."""

from __future__ import annotations

import logging

import jwt
import pytest
import requests
from sqlalchemy import select

from lti_tool.lti.platform_client import (
    SCOPE_NRPS,
    PermanentError,
    PlatformAccount,
    PlatformClient,
    next_link,
    parse_retry_after,
    platform_reason,
    sub_url,
)
from lti_tool.persistence.models import Registration
from lti_tool.runtime import Runtime
from tests.support.live import SANDBOX_CLIENT_ID


def _client(world, runtime=None) -> PlatformClient:
    runtime = runtime or world.runtime
    with runtime.session() as db:
        registration = db.scalar(select(Registration).where(
            Registration.client_id == SANDBOX_CLIENT_ID))
        return PlatformClient(runtime, PlatformAccount.of(registration))


def test_n_final_scores_cost_n_score_posts_and_one_token(any_world):
    arrange, lms = any_world.arrange, any_world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    learners = [f"learner-s{n:03d}" for n in range(1, 9)]
    for learner in learners:
        arrange.attempt(activity, learner).final(level=2)
    assert arrange.deliver().delivered == len(learners)
    counts = lms.counts()
    assert counts["scores"] == len(learners)
    assert counts["token"] == 1


def test_tokens_are_shared_across_processes_until_shortly_before_expiry(any_world):
    """A second Runtime on the same database and store is what a second process has."""
    first = _client(any_world)
    other_process = Runtime(any_world.runtime.settings)
    try:
        second = _client(any_world, other_process)
        scopes = ("https://purl.imsglobal.org/spec/lti-ags/scope/score",)
        token = first.access_token(scopes)
        assert second.access_token(list(reversed(scopes))) == token
        assert any_world.lms.counts()["token"] == 1
        # Another scope set is another token.
        assert first.access_token((SCOPE_NRPS,)) != token
        assert any_world.lms.counts()["token"] == 2
    finally:
        other_process.dispose()


def test_a_token_that_expires_within_a_minute_is_not_cached(world):
    world.stack.sandbox.config.access_token_ttl = 50
    client = _client(world)
    client.access_token((SCOPE_NRPS,))
    client.access_token((SCOPE_NRPS,))
    assert world.lms.counts()["token"] == 2


def test_the_client_assertion_is_signed_with_the_current_tool_key(world):
    client = _client(world)
    runtime = world.runtime
    with runtime.session() as db:
        key = runtime.keyring.signing_key(db)
        jwks = runtime.keyring.jwks(db)
    first, second = client.client_assertion(), client.client_assertion()
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    public = jwt.PyJWK({k: v for k, v in jwks["keys"][0].items()}).key
    claims = jwt.decode(first, public, algorithms=["RS256"],
                        audience=world.stack.sandbox.config.token_url)
    assert claims["iss"] == claims["sub"] == SANDBOX_CLIENT_ID
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


def test_token_audience_wins_over_the_token_url_when_set(world):
    client = _client(world)
    account = PlatformAccount(client.account.registration_id, SANDBOX_CLIENT_ID,
                              client.account.auth_token_url, "https://lms.example/aud")
    assertion = PlatformClient(world.runtime, account).client_assertion()
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == \
        "https://lms.example/aud"


def test_a_scope_the_platform_did_not_grant_is_a_permanent_error(world):
    with pytest.raises(PermanentError) as caught:
        _client(world).access_token(("https://example.org/scope/not-granted",))
    assert caught.value.code == "scope_not_granted"
    assert "not granted: https://example.org/scope/not-granted" in caught.value.reason


def test_a_second_401_stops_with_a_permanent_error(world):
    world.lms.fault("scores", "401", count=2)
    client = _client(world)
    with pytest.raises(PermanentError) as caught:
        client.post_score(world.lms.lineitem_url("rl-a1"), {
            "userId": "learner-1", "timestamp": "2026-01-01T00:00:00+00:00",
            "activityProgress": "Completed", "gradingProgress": "FullyGraded"})
    assert caught.value.code == "unauthorized"
    assert world.lms.counts()["token"] == 2


def test_the_roster_is_read_across_every_page_with_case_sensitive_page_tokens(world):
    members = _client(world).get_members(world.stack.sandbox.memberships_url("course-a"))
    ids = [m["user_id"] for m in members]
    assert len(ids) == len(set(ids)) == 8 + 120
    assert {"learner-1", "instructor-1", "learner-s120"} <= set(ids)
    assert world.lms.counts()["nrps"] == 3  # pages of 50


def test_results_are_filtered_by_learner(world):
    arrange = world.arrange
    activity = arrange.activity(arrange.link("rl-a1"))
    for learner, level in (("learner-1", 1), ("learner-2", 3)):
        arrange.attempt(activity, learner).final(level=level)
    arrange.drain()
    results = _client(world).get_results(world.lms.lineitem_url("rl-a1"), user_id="learner-2")
    assert [(r["userId"], r["resultScore"]) for r in results] == [("learner-2", 3)]


def test_every_call_to_the_platform_carries_a_user_agent(world):
    client = _client(world)
    assert client.http.headers["User-Agent"].startswith("lti-tool/")
    # The sandbox refuses a service call without one (400 user_agent_required), so a
    # delivered score proves it was sent.
    arrange = world.arrange
    activity = arrange.activity(arrange.link("rl-a1"))
    arrange.attempt(activity, "learner-1").final(level=1)
    arrange.drain()
    assert world.lms.result(world.lms.lineitem_url("rl-a1"), "learner-1")["resultScore"] == 1


def test_each_delivery_try_logs_one_structured_line_without_personal_data(world):
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("lti_tool.grading")
    logger.addHandler(handler)
    try:
        arrange = world.arrange
        activity = arrange.activity(arrange.link("rl-a1"))
        outbox_id = arrange.attempt(activity, "learner-1").final(level=2)
        world.lms.fault("scores", "500")
        arrange.drain()
    finally:
        logger.removeHandler(handler)
    tries = [r for r in records if r.getMessage().startswith("grade delivery ")]
    assert [(r.outcome, r.http_status) for r in tries] == [("retrying", 500),
                                                           ("delivered", 204)]
    for record in tries:
        assert record.outbox_id == outbox_id
        assert record.registration_id == arrange.registration_id
        assert record.duration_ms >= 0
        text = str(vars(record))
        assert "learner-1" not in text and "Bearer" not in text and "@" not in text


# -- pure helpers ------------------------------------------------------------------------


def _response(status: int, body: str, content_type="application/json", headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers["Content-Type"] = content_type
    response.headers.update(headers or {})
    return response


def test_platform_reason_is_one_truncated_line_without_the_token():
    token = "secret-token-value"
    body = '{"error": "x", "error_description": "bad\\n token ' + token + " " + "y" * 500 + '"}'
    reason = platform_reason(_response(400, body), secrets_to_hide=(token,))
    assert reason.startswith("HTTP 400: bad token [hidden] yyy")
    assert token not in reason and "\n" not in reason
    assert len(reason) <= 310
    assert platform_reason(_response(502, "<html>proxy</html>", "text/html")).startswith(
        "HTTP 502")


def test_retry_after_in_seconds_or_as_a_date():
    assert parse_retry_after("7") == 7
    assert parse_retry_after("999999") == 3600
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_service_urls_keep_the_query_and_next_links_keep_their_case():
    assert sub_url("https://m.example/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1",
                   "scores") == \
        "https://m.example/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=1"
    response = _response(200, "[]", headers={
        "Link": '<https://lms.example/api/x?page=PgAbCdXy>; rel="next", '
                '<https://lms.example/api/x>; rel="first"'})
    assert next_link(response) == "https://lms.example/api/x?page=PgAbCdXy"
