"""Every launch check, one refusal each (the 1EdTech certification list and the checks
PyLTI1p3 skips: replay, aud/azp, clock skew, browser binding, RS256 only).

Each refused launch must answer 4xx with its stable code on a page fit for the iframe, and
never reach the launch's home page. Checks that touch shared state (state, nonce, replay,
key sets) run on both backends (``driver``); checks of the token alone run on the embedded
default only (``sqlite_driver``), which keeps the suite fast.
"""

from __future__ import annotations

import base64
import json
import logging
import time

import jwt
import pytest
from launch_platform import MEMBERSHIP, Driver, error_code, platform_key

from lti_tool.lti.claims import Claim


def assert_refused(response, code: str, status: int = 400) -> str:
    page = response.get_data(as_text=True)
    assert (response.status_code, error_code(response)) == (status, code), page[:400]
    assert code in page
    assert "Traceback" not in page
    assert response.headers.get("Location") is None
    return page


def test_a_valid_launch_is_accepted(driver):
    response = driver.launch()
    assert response.status_code == 303
    assert "/launch?ls=" in response.location


# -- the state and the browser --------------------------------------------------------


def test_launch_without_state_is_refused(driver, platform):
    _, nonce = driver.start()
    response = driver.post_launch(None, platform.sign(platform.claims(nonce)))
    assert_refused(response, "launch_state_invalid")


def test_launch_with_an_unknown_state_is_refused(driver, platform):
    _, nonce = driver.start()
    response = driver.post_launch("made-up-state", platform.sign(platform.claims(nonce)))
    assert_refused(response, "launch_state_invalid")


def test_state_is_single_use(driver, platform):
    state, nonce = driver.start()
    token = platform.sign(platform.claims(nonce))
    assert driver.post_launch(state, token).status_code == 303
    assert_refused(driver.post_launch(state, token), "launch_state_invalid")


def test_state_bound_to_another_browser_is_refused(app, driver, platform):
    state, nonce = driver.start()
    other = app.test_client()
    cookie = driver.client.get_cookie(
        next(c.key for c in _cookies(driver.client) if c.key.startswith("lti_state_")),
        path="/lti/")
    other.set_cookie(cookie.key, "not-the-browser-token", path="/lti/")
    response = Driver(other, platform).post_launch(state, platform.sign(platform.claims(nonce)))
    assert_refused(response, "launch_state_invalid")


def _cookies(client):
    return list(client._cookies.values())


def test_launch_clears_the_spent_state_cookie(driver):
    response = driver.launch()
    assert response.status_code == 303
    cleared = response.headers.getlist("Set-Cookie")
    assert len(cleared) == 1 and cleared[0].startswith("lti_state_")
    assert "Max-Age=0" in cleared[0] and "Partitioned" in cleared[0]


def test_platform_error_answer_is_shown(sqlite_driver):
    state, _ = sqlite_driver.start()
    response = sqlite_driver.post_launch(state, None, error="login_required",
                                  error_description="Not logged in")
    page = assert_refused(response, "launch_platform_error")
    assert "login_required" in page


# -- the id_token as a JWT ------------------------------------------------------------


def test_not_a_jwt_is_refused(sqlite_driver):
    state, _ = sqlite_driver.start()
    assert_refused(sqlite_driver.post_launch(state, "this.is-not.a-jwt"), "launch_token_invalid")


def test_two_part_token_is_refused(sqlite_driver):
    state, _ = sqlite_driver.start()
    assert_refused(sqlite_driver.post_launch(state, "abc.def"), "launch_token_invalid")


def test_missing_id_token_is_refused(sqlite_driver):
    state, _ = sqlite_driver.start()
    assert_refused(sqlite_driver.post_launch(state, None), "launch_claim_missing")


def test_header_without_kid_is_refused(sqlite_driver):
    assert_refused(sqlite_driver.launch(sign={"kid": None}), "launch_kid_missing")


def test_unknown_kid_is_refused(driver):
    assert_refused(driver.launch(sign={"kid": "no-such-key"}), "launch_kid_unknown")


@pytest.mark.parametrize("algorithm", ["HS256", "none", "RS512"])
def test_only_rs256_is_accepted(sqlite_driver, algorithm):
    state, nonce = sqlite_driver.start()
    body = sqlite_driver.platform.claims(nonce)
    if algorithm == "HS256":
        token = jwt.encode(body, "shared-secret-guess-" * 3, algorithm="HS256",
                           headers={"kid": "key-1"})
    elif algorithm == "none":
        token = _unsigned(body, {"alg": "none", "kid": "key-1"})
    else:
        token = sqlite_driver.platform.sign(body, algorithm=algorithm)
    assert_refused(sqlite_driver.post_launch(state, token), "launch_algorithm_invalid")


def _unsigned(body, header) -> str:
    part = lambda value: base64.urlsafe_b64encode(  # noqa: E731
        json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(body)}."


def test_signature_by_another_key_is_refused(sqlite_driver):
    response = sqlite_driver.launch(sign={"kid": "key-1", "key": platform_key(2)})
    assert_refused(response, "launch_signature_invalid")


def test_tampered_body_is_refused(sqlite_driver):
    platform = sqlite_driver.platform
    state, nonce = sqlite_driver.start()
    header, _, signature = platform.sign(platform.claims(nonce)).split(".")
    forged = platform.claims(nonce, roles=[MEMBERSHIP + "Instructor"])
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert_refused(sqlite_driver.post_launch(state, f"{header}.{body}.{signature}"),
                   "launch_signature_invalid")


# -- issuer, audience, times, nonce, replay --------------------------------------------


def test_wrong_issuer_is_refused(sqlite_driver):
    response = sqlite_driver.launch(iss="https://other-lms.example.org")
    assert_refused(response, "launch_issuer_invalid")


def test_wrong_audience_is_refused(sqlite_driver):
    assert_refused(sqlite_driver.launch(aud="another-tool"), "launch_audience_invalid")


def test_several_audiences_without_azp_are_refused(sqlite_driver):
    response = sqlite_driver.launch(aud=[sqlite_driver.platform.client_id, "other-tool"])
    assert_refused(response, "launch_audience_invalid")


def test_azp_naming_another_client_is_refused(sqlite_driver):
    client_id = sqlite_driver.platform.client_id
    response = sqlite_driver.launch(aud=[client_id, "other-tool"], azp="other-tool")
    assert_refused(response, "launch_audience_invalid")


def test_several_audiences_with_our_azp_are_accepted(sqlite_driver):
    client_id = sqlite_driver.platform.client_id
    response = sqlite_driver.launch(aud=["other-tool", client_id], azp=client_id)
    assert response.status_code == 303


def test_expired_token_is_refused(sqlite_driver):
    now = int(time.time())
    assert_refused(sqlite_driver.launch(iat=now - 400, exp=now - 60), "launch_expired")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_token_without_exp_or_iat_is_refused(sqlite_driver, claim):
    page = assert_refused(sqlite_driver.launch(**{claim: None}), "launch_claim_missing")
    assert claim in page


def test_token_issued_in_the_future_is_refused(sqlite_driver):
    now = int(time.time())
    assert_refused(sqlite_driver.launch(iat=now + 120, exp=now + 420), "launch_time_invalid")


def test_three_seconds_of_clock_skew_are_accepted(driver):
    """PyLTI1p3 alone fails every launch from a platform whose clock runs 3 s ahead."""
    now = int(time.time())
    assert driver.launch(iat=now + 3, exp=now + 303).status_code == 303


def test_just_expired_within_leeway_is_accepted(sqlite_driver):
    now = int(time.time())
    assert sqlite_driver.launch(iat=now - 300, exp=now - 3).status_code == 303


def test_wrong_nonce_is_refused(driver):
    assert_refused(driver.launch(nonce="another-login-nonce"), "launch_nonce_invalid")


def test_missing_nonce_is_refused(sqlite_driver):
    assert_refused(sqlite_driver.launch(nonce=None), "launch_claim_missing")


def test_id_token_is_single_use_even_with_a_fresh_state(driver, platform):
    """A captured id_token replayed in a new login of the attacker's own is refused."""
    state, nonce = driver.start()
    token = platform.sign(platform.claims(nonce))
    assert driver.post_launch(state, token).status_code == 303
    fresh_state, _ = driver.start()
    assert_refused(driver.post_launch(fresh_state, token), "launch_replayed")


def test_nonce_is_bound_to_its_state(driver, platform):
    """Two logins in one browser: a token for the first cannot finish the second."""
    first_state, first_nonce = driver.start()
    second_state, _ = driver.start()
    token = platform.sign(platform.claims(first_nonce))
    assert_refused(driver.post_launch(second_state, token), "launch_nonce_invalid")


# -- required claims, types -----------------------------------------------------------


CLAIM_CASES = [
    # (claim changes, expected code, words the page names)
    ({"version": None}, "launch_claim_missing", "version"),
    ({"version": "1.1"}, "launch_claim_invalid", "version"),
    ({"message_type": None}, "launch_claim_missing", "message_type"),
    ({"message_type": "LtiStartProctoring"}, "launch_message_type_unsupported",
     "LtiStartProctoring"),
    ({"roles": None}, "launch_claim_missing", "roles"),
    ({"roles": "Learner"}, "launch_claim_invalid", "roles"),
    ({"deployment_id": None}, "launch_claim_missing", "deployment_id"),
    ({"deployment_id": ""}, "launch_claim_missing", "deployment_id"),
    ({"resource_link": None}, "launch_claim_missing", "resource_link"),
    ({"resource_link": {"title": "no id"}}, "launch_claim_missing", "resource_link.id"),
    ({"resource_link": {"id": 42}}, "launch_claim_invalid", "resource_link.id"),
    ({"sub": None}, "launch_claim_missing", "sub"),
    ({"sub": ""}, "launch_claim_missing", "sub"),
    ({"sub": 1234}, "launch_claim_invalid", "sub"),
    ({"context": {"title": "no id"}}, "launch_claim_missing", "context.id"),
    ({"context": "course-1"}, "launch_claim_invalid", "context"),
    ({"email": ["a@example.org"]}, "launch_claim_invalid", "email"),
    ({"custom": ["not", "a", "map"]}, "launch_claim_invalid", "custom"),
    ({Claim.AGS_ENDPOINT.value: {"lineitem": "javascript:alert(1)"}},
     "launch_claim_invalid", "endpoint.lineitem"),
    ({"message_type": "LtiDeepLinkingRequest", "resource_link": None},
     "launch_claim_missing", "deep_linking_settings"),
]


@pytest.mark.parametrize(("changes", "code", "named"), CLAIM_CASES,
                         ids=[f"{c[1]}-{'-'.join(map(str, c[0].values()))[:30]}"
                              for c in CLAIM_CASES])
def test_missing_or_ill_typed_claim_is_refused(sqlite_driver, changes, code, named):
    page = assert_refused(sqlite_driver.launch(**changes), code)
    assert named in page


def test_deep_linking_that_cannot_take_a_resource_link_is_refused(sqlite_driver):
    settings = {"deep_link_return_url": "https://lms.example.org/dl",
                "accept_types": ["file"], "accept_presentation_document_targets": ["iframe"]}
    response = sqlite_driver.launch(message_type="LtiDeepLinkingRequest", resource_link=None,
                             deep_linking_settings=settings)
    assert_refused(response, "launch_claim_invalid")


# -- what a refusal leaves behind ------------------------------------------------------


def test_refusal_logs_one_line_without_the_token(sqlite_driver, caplog):
    state, nonce = sqlite_driver.start()
    platform = sqlite_driver.platform
    token = platform.sign(platform.claims(nonce, aud="another-tool"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lti_tool"):
        assert_refused(sqlite_driver.post_launch(state, token), "launch_audience_invalid")
    lines = [r for r in caplog.records if r.name.startswith("lti_tool")]
    assert len(lines) == 1
    record = lines[0]
    assert record.levelno == logging.WARNING and record.code == "launch_audience_invalid"
    logged = record.getMessage() + " " + json.dumps(vars(record), default=str)
    assert token not in logged and token.split(".")[1][:40] not in logged
    assert state not in logged and nonce not in logged


def test_refusal_as_json_for_clients_that_ask(sqlite_driver):
    state, nonce = sqlite_driver.start()
    platform = sqlite_driver.platform
    token = platform.sign(platform.claims(nonce, roles=None))
    response = sqlite_driver.client.post("/lti/launch", data={"state": state, "id_token": token},
                                  headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "launch_claim_missing"
    assert response.get_json()["claim"] == "roles"
