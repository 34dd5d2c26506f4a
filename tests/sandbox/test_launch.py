"""Launches from the sandbox: login initiation, the id_token, its faults and variants."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from lti_tool.sandbox import FAULTS, VARIANTS

L = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
AGS_SCOPES = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
}


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _sig = token.split(".")
    return json.loads(_b64decode(header)), json.loads(_b64decode(payload))


def test_login_initiation_redirects_to_the_tool_with_the_oidc_parameters(driver):
    login = driver.start(user="learner-1", link="rl-a1")
    assert login["iss"] == "http://sandbox.test"
    assert login["login_hint"] == "learner-1"
    assert login["target_link_uri"] == "http://tool.test/lti/launch"
    assert login["client_id"] == "sandbox-client"
    assert login["lti_deployment_id"] == "sandbox-deployment-1"
    assert login["lti_message_hint"].startswith("hint-")


def test_post_login_initiation_renders_a_form_posting_to_the_tool(client):
    response = client.post("/launch/start", data={"user": "learner-2", "link": "rl-a1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="http://tool.test/lti/login"' in html and 'method="post"' in html
    assert 'name="login_hint" value="learner-2"' in html
    assert "<noscript>" in html and ".submit()" in html


def test_resource_launch_posts_a_signed_id_token_with_the_lti_claims(driver):
    launch = driver.launch(user="learner-1", link="rl-a1")
    assert launch["action"] == "http://tool.test/lti/launch" and launch["method"] == "post"
    assert launch["state"] == launch["auth"]["state"]
    assert "<noscript>" in launch["html"]
    claims = driver.verify(launch["id_token"])
    assert claims["sub"] == "learner-1" and claims["azp"] == "sandbox-client"
    assert claims["nonce"] == launch["auth"]["nonce"]
    assert claims["name"] == "Alex Morgan" and claims["email"] == "alex.morgan@example.org"
    assert claims[L + "message_type"] == "LtiResourceLinkRequest"
    assert claims[L + "version"] == "1.3.0"
    assert claims[L + "deployment_id"] == "sandbox-deployment-1"
    assert claims[L + "target_link_uri"] == "http://tool.test/lti/launch"
    assert claims[L + "resource_link"]["id"] == "rl-a1"
    assert claims[L + "roles"] == [ROLE + "Learner"]
    assert claims[L + "context"]["id"] == "course-a"
    assert claims[L + "context"]["title"] == "Improving Services"
    ags = claims[AGS]
    assert set(ags["scope"]) == AGS_SCOPES
    assert ags["lineitems"] == "http://sandbox.test/api/ags/course-a/lineitems"
    assert ags["lineitem"] == "http://sandbox.test/api/ags/course-a/lineitems/li-a1"
    assert claims[NRPS] == {
        "context_memberships_url": "http://sandbox.test/api/nrps/course-a/memberships",
        "service_versions": ["2.0"],
    }
    assert 0 < claims["exp"] - claims["iat"] <= 600


def test_link_without_column_sends_no_lineitem_claim(driver):
    claims = driver.verify(driver.launch(user="learner-2", link="rl-a2")["id_token"])
    assert "lineitem" not in claims[AGS]
    assert claims[AGS]["lineitems"].endswith("/api/ags/course-a/lineitems")
    assert set(claims[AGS]["scope"]) == AGS_SCOPES


@pytest.mark.parametrize(
    ("user", "roles", "mentees"),
    [
        ("instructor-1", [ROLE + "Instructor"], None),
        ("ta-1", [ROLE + "Instructor",
                  "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
         None),
        ("mentor-1", [ROLE + "Mentor"], ["learner-1"]),
        ("mentor-noscope", [ROLE + "Mentor"], None),
        ("admin-1", ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
                     ROLE + "Learner"], None),
    ],
)
def test_people_launch_with_their_roles(driver, user, roles, mentees):
    claims = driver.verify(driver.launch(user=user, link="rl-a1")["id_token"])
    assert claims[L + "roles"] == roles
    assert claims.get(L + "role_scope_mentor") == mentees


def test_course_b_launch(driver):
    claims = driver.verify(driver.launch(user="learner-2", link="rl-b1")["id_token"])
    assert claims[L + "context"]["title"] == "Team Leadership"
    assert claims[AGS]["lineitem"].endswith("/api/ags/course-b/lineitems/li-b1")


def test_deep_linking_request_carries_the_settings(driver, sandbox):
    launch = driver.launch(user="instructor-1", message="deep_link", context="course-a")
    claims = driver.verify(launch["id_token"])
    assert claims[L + "message_type"] == "LtiDeepLinkingRequest"
    assert L + "resource_link" not in claims
    settings = claims[DL]
    assert settings["deep_link_return_url"] == "http://sandbox.test/deep-link/return"
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["accept_presentation_document_targets"] == ["iframe", "window"]
    assert settings["accept_multiple"] is False and settings["auto_create"] is True
    assert len(settings["data"]) >= 16
    other = driver.verify(
        driver.launch(user="instructor-1", message="deep_link", context="course-a")["id_token"]
    )
    assert other[DL]["data"] != settings["data"]
    assert "lineitem" not in claims[AGS]


def test_deployment_override_and_document_target(driver):
    launch = driver.launch(user="learner-1", link="rl-a1", deployment="dep-new", target="window")
    assert launch["login"]["lti_deployment_id"] == "dep-new"
    claims = driver.verify(launch["id_token"])
    assert claims[L + "deployment_id"] == "dep-new"
    assert claims[L + "launch_presentation"]["document_target"] == "window"
    assert claims[L + "tool_platform"]["product_family_code"] == "lti-sandbox"


def test_deployment_override_as_a_variant(driver):
    launch = driver.launch(user="learner-1", link="rl-a1", variant="names_only,deployment=dep-2")
    claims = driver.verify(launch["id_token"])
    assert claims[L + "deployment_id"] == "dep-2" and "email" not in claims


# -- faults: exactly one defect each ----------------------------------------------------------

VOLATILE = {"iat", "exp", "nonce"}


def _diff(baseline: dict[str, Any], faulty: dict[str, Any]) -> set[str]:
    keys = (set(baseline) | set(faulty)) - VOLATILE
    return {k for k in keys if baseline.get(k, "<absent>") != faulty.get(k, "<absent>")}


CLAIM_FAULTS: dict[str, tuple[set[str], Any]] = {
    "wrong_aud": ({"aud", "azp"}, lambda c: c["aud"] == "sandbox-other-client" and "azp" not in c),
    "extra_aud_no_azp": ({"aud", "azp"},
                         lambda c: c["aud"] == ["sandbox-client", "sandbox-other-client"]
                         and "azp" not in c),
    "wrong_azp": ({"aud", "azp"}, lambda c: c["azp"] == "sandbox-other-client"
                  and "sandbox-client" in c["aud"]),
    "wrong_iss": ({"iss"}, lambda c: c["iss"] != "http://sandbox.test"),
    "missing_sub": ({"sub"}, lambda c: "sub" not in c),
    "missing_roles": ({L + "roles"}, lambda c: L + "roles" not in c),
    "missing_deployment_id": ({L + "deployment_id"}, lambda c: L + "deployment_id" not in c),
    "missing_message_type": ({L + "message_type"}, lambda c: L + "message_type" not in c),
    "missing_version": ({L + "version"}, lambda c: L + "version" not in c),
    "wrong_version": ({L + "version"}, lambda c: c[L + "version"] == "1.2.0"),
    "missing_resource_link": ({L + "resource_link"}, lambda c: L + "resource_link" not in c),
    "missing_resource_link_id": ({L + "resource_link"},
                                 lambda c: "id" not in c[L + "resource_link"]
                                 and c[L + "resource_link"]["title"]),
    "unknown_deployment": ({L + "deployment_id"},
                           lambda c: c[L + "deployment_id"] == "sandbox-deployment-unknown"),
    "nonce_mismatch": (set(), None),
    "expired": (set(), lambda c: c["exp"] < time.time() - 60 and c["iat"] < c["exp"]),
    "future_iat": (set(), lambda c: c["iat"] > time.time() + 200 and c["exp"] > c["iat"]),
    "iat_missing": (set(), lambda c: "iat" not in c and "exp" in c),
    "exp_missing": (set(), lambda c: "exp" not in c and "iat" in c),
}


@pytest.mark.parametrize("fault", sorted(CLAIM_FAULTS))
def test_claim_fault_changes_exactly_its_claim(driver, fault):
    expected_diff, check = CLAIM_FAULTS[fault]
    baseline = driver.verify(driver.launch(user="learner-1", link="rl-a1")["id_token"])
    launch = driver.launch(user="learner-1", link="rl-a1", fault=fault)
    header, claims = _unverified(launch["id_token"])
    # The signature is still the platform's: the defect is in the claims alone.
    jwt.decode(launch["id_token"], driver.platform_key(header["kid"]), algorithms=["RS256"],
               options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                        "verify_iss": False})
    assert _diff(baseline, claims) == expected_diff
    assert launch["state"] == launch["auth"]["state"]
    if fault == "nonce_mismatch":
        assert claims["nonce"] != launch["auth"]["nonce"]
    else:
        assert claims["nonce"] == launch["auth"]["nonce"]
        assert check(claims)
    if fault == "unknown_deployment":
        assert launch["login"]["lti_deployment_id"] == "sandbox-deployment-unknown"


def test_every_fault_is_tested():
    token_faults = {"wrong_kid", "no_kid", "bad_signature", "alg_none", "hs256", "not_jwt",
                    "wrong_state"}
    assert set(FAULTS) == set(CLAIM_FAULTS) | token_faults


def test_wrong_kid_is_signed_by_the_platform_key_under_an_unknown_kid(driver, sandbox):
    token = driver.launch(user="learner-1", link="rl-a1", fault="wrong_kid")["id_token"]
    header, _ = _unverified(token)
    kids = [k["kid"] for k in driver.client.get("/jwks").get_json()["keys"]]
    assert header["kid"] not in kids
    claims = jwt.decode(token, driver.platform_key(sandbox.keys.current.kid),
                        algorithms=["RS256"], audience="sandbox-client")
    assert claims["sub"] == "learner-1"


def test_no_kid_has_a_valid_signature_but_no_kid(driver, sandbox):
    token = driver.launch(user="learner-1", link="rl-a1", fault="no_kid")["id_token"]
    header, _ = _unverified(token)
    assert "kid" not in header and header["alg"] == "RS256"
    jwt.decode(token, driver.platform_key(sandbox.keys.current.kid), algorithms=["RS256"],
               audience="sandbox-client")


def test_bad_signature_does_not_verify_with_the_published_key(driver, sandbox):
    token = driver.launch(user="learner-1", link="rl-a1", fault="bad_signature")["id_token"]
    header, claims = _unverified(token)
    assert header["kid"] == sandbox.keys.current.kid and claims["sub"] == "learner-1"
    with pytest.raises(jwt.InvalidSignatureError):
        driver.verify(token)


def test_alg_none_is_unsigned(driver):
    token = driver.launch(user="learner-1", link="rl-a1", fault="alg_none")["id_token"]
    header, claims = _unverified(token)
    assert header["alg"] == "none" and token.endswith(".")
    assert claims["sub"] == "learner-1"
    with pytest.raises(jwt.InvalidTokenError):
        driver.verify(token)


def test_hs256_is_keyed_with_the_public_key(driver, sandbox):
    token = driver.launch(user="learner-1", link="rl-a1", fault="hs256")["id_token"]
    header, _ = _unverified(token)
    assert header["alg"] == "HS256"
    signing_input, signature = token.rsplit(".", 1)
    expected = hmac.new(sandbox.keys.current.public_pem(), signing_input.encode(),
                        hashlib.sha256).digest()
    assert _b64decode(signature) == expected
    with pytest.raises(jwt.InvalidTokenError):
        driver.verify(token)


def test_not_jwt(driver):
    assert driver.launch(user="learner-1", link="rl-a1", fault="not_jwt")["id_token"] == (
        "not-a-jwt"
    )


def test_wrong_state_changes_only_the_form_state(driver):
    launch = driver.launch(user="learner-1", link="rl-a1", fault="wrong_state")
    assert launch["state"] != launch["auth"]["state"]
    assert driver.verify(launch["id_token"])["nonce"] == launch["auth"]["nonce"]


def test_resource_only_faults_are_refused_for_deep_linking(client):
    response = client.get("/launch/start", query_string={
        "user": "instructor-1", "message": "deep_link", "fault": "missing_resource_link"})
    assert response.status_code == 400
    assert "bad_fault" in response.get_data(as_text=True)


# -- valid variants ---------------------------------------------------------------------------

INST = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"


@pytest.mark.parametrize(
    ("user", "variant", "check"),
    [
        ("instructor-1", "multiple_roles", lambda c: c[L + "roles"] == [
            ROLE + "Instructor", INST + "Faculty",
            "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"]),
        ("learner-1", "multiple_roles", lambda c: INST + "Student" in c[L + "roles"]
         and len(c[L + "roles"]) == 3),
        ("instructor-1", "short_roles", lambda c: c[L + "roles"] == ["Instructor"]),
        ("learner-1", "short_roles", lambda c: c[L + "roles"] == ["Learner"]),
        ("ta-1", "short_roles", lambda c: c[L + "roles"] == ["Instructor"]),
        ("learner-1", "unknown_role", lambda c: c[L + "roles"] == [
            ROLE + "Learner", "http://purl.imsglobal.org/vocab/lis/v2/unknown/unknown#Unknown"]),
        ("instructor-1", "empty_roles", lambda c: c[L + "roles"] == []),
        ("learner-1", "email_only", lambda c: c["email"] and not {"name", "given_name",
                                                                   "family_name"} & set(c)),
        ("learner-1", "names_only", lambda c: "email" not in c and c["name"] == "Alex Morgan"),
        ("instructor-1", "no_pii", lambda c: not {"name", "given_name", "family_name",
                                                   "email"} & set(c)),
        ("learner-1", "no_context", lambda c: not {L + "context", AGS, NRPS} & set(c)
         and c[L + "resource_link"]["id"] == "rl-a1"),
    ],
)
def test_variant_is_a_valid_launch(driver, user, variant, check):
    claims = driver.verify(driver.launch(user=user, link="rl-a1", variant=variant)["id_token"])
    assert check(claims)
    assert claims["sub"] == user


def test_clock_ahead_needs_leeway(driver):
    token = driver.launch(user="learner-1", link="rl-a1", variant="clock_ahead_3s")["id_token"]
    _, claims = _unverified(token)
    assert 2 <= claims["iat"] - time.time() <= 4
    with pytest.raises(jwt.ImmatureSignatureError):
        driver.verify(token)
    assert driver.verify(token, leeway=5)["sub"] == "learner-1"


def test_every_variant_is_known():
    assert set(VARIANTS) == {
        "multiple_roles", "short_roles", "unknown_role", "empty_roles", "email_only",
        "names_only", "no_pii", "no_context", "clock_ahead_3s",
    }
