"""Dynamic registration, platform side, Moodle-like and Canvas-like."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

TOOL_CONF = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONF = "https://purl.imsglobal.org/spec/lti-platform-configuration"
SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def _registration(**extra):
    body = {
        "application_type": "web",
        "grant_types": ["implicit", "client_credentials"],
        "response_types": ["id_token"],
        "redirect_uris": ["http://tool.test/lti/launch"],
        "initiate_login_uri": "http://tool.test/lti/login",
        "client_name": "KSF assessments",
        "jwks_uri": "",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": f"{SCORE} {NRPS} https://example.test/unknown-scope",
        TOOL_CONF: {
            "domain": "tool.test",
            "target_link_uri": "http://tool.test/lti/launch",
            "claims": ["iss", "sub", "name", "email"],
            "messages": [{"type": "LtiDeepLinkingRequest",
                          "target_link_uri": "http://tool.test/lti/launch"}],
        },
    }
    body.update(extra)
    return body


def _start(driver, variant):
    response = driver.client.get("/register/start", query_string={
        "variant": variant, "tool_url": "http://tool.test/lti/register?invite=abc"})
    assert response.status_code == 200
    page = driver.parse(response.get_data(as_text=True))
    frame = urlsplit(page.iframes[0]["src"])
    assert f"{frame.scheme}://{frame.netloc}{frame.path}" == "http://tool.test/lti/register"
    params = dict(parse_qsl(frame.query))
    assert params["invite"] == "abc"
    assert "org.imsglobal.lti.close" in response.get_data(as_text=True)
    return params["openid_configuration"], params["registration_token"]


def _register(client, token, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/register", json=body, headers=headers)


def test_moodle_registration_creates_a_pending_tool(driver, client, sandbox, fake_tool):
    config_url, token = _start(driver, "moodle")
    assert config_url == "http://sandbox.test/.well-known/openid-configuration?variant=moodle"
    config = client.get(config_url).get_json()
    assert config["issuer"] == "http://sandbox.test"
    assert config["registration_endpoint"] == "http://sandbox.test/register"
    assert config["authorization_endpoint"] == "http://sandbox.test/auth"
    assert config["token_endpoint"] == "http://sandbox.test/token"
    assert config["jwks_uri"] == "http://sandbox.test/jwks"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config[PLATFORM_CONF]["product_family_code"] == "moodle"
    assert {m["type"] for m in config[PLATFORM_CONF]["messages_supported"]} == {
        "LtiResourceLinkRequest", "LtiDeepLinkingRequest"}

    response = _register(client, token, _registration(jwks_uri=fake_tool.jwks_url))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    client_id = body["client_id"]
    deployment_id = body[TOOL_CONF]["deployment_id"]
    assert client_id.startswith("moodle-client-") and deployment_id
    assert body["scope"] == f"{SCORE} {NRPS}"
    assert body[TOOL_CONF]["domain"] == "tool.test"

    again = _register(client, token, _registration(jwks_uri=fake_tool.jwks_url))
    assert again.status_code == 401

    registered = sandbox.client(client_id)
    assert registered["status"] == "pending" and registered["deployment_ids"] == [deployment_id]
    login = driver.start(user="learner-1", link="rl-a1", client=client_id)
    assert login["client_id"] == client_id and login["lti_deployment_id"] == deployment_id
    pending = client.get("/auth", query_string=driver.auth_params(login))
    assert pending.status_code == 400 and "client_pending" in pending.get_data(as_text=True)

    assert client.post(f"/admin/clients/{client_id}/activate").status_code == 303
    launch = driver.launch(user="learner-1", link="rl-a1", client=client_id)
    claims = driver.verify(launch["id_token"], audience=client_id)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == deployment_id
    assert claims["name"] == "Alex Morgan" and claims["email"] == "alex.morgan@example.org"
    ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    assert ags["scope"] == [SCORE]

    now = int(time.time())
    assertion = fake_tool.sign({"iss": client_id, "sub": client_id, "iat": now,
                                "exp": now + 60, "jti": uuid.uuid4().hex,
                                "aud": "http://sandbox.test/token"})
    granted = driver.request_token([SCORE], assertion=assertion)
    assert granted.status_code == 200
    assertion = fake_tool.sign({"iss": client_id, "sub": client_id, "iat": now,
                                "exp": now + 60, "jti": uuid.uuid4().hex,
                                "aud": "http://sandbox.test/token"})
    not_granted = driver.request_token(
        ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"], assertion=assertion)
    assert not_granted.status_code == 400


def test_canvas_configuration_requires_the_registration_token(driver, client, sandbox,
                                                             fake_tool):
    config_url, token = _start(driver, "canvas")
    assert client.get(config_url).status_code == 401
    assert client.get(config_url, headers={"Authorization": "Bearer forged"}).status_code == 401
    config = client.get(config_url, headers={"Authorization": f"Bearer {token}"}).get_json()
    platform = config[PLATFORM_CONF]
    assert platform["product_family_code"] == "canvas"
    placements = {m["type"]: m["placements"] for m in platform["messages_supported"]}
    assert "assignment_selection" in placements["LtiDeepLinkingRequest"]
    body = _registration(jwks_uri=fake_tool.jwks_url)
    body[TOOL_CONF]["claims"] = ["iss", "sub"]
    response = _register(client, token, body)
    assert response.status_code == 200
    client_id = response.get_json()["client_id"]
    assert sandbox.client(client_id)["status"] == "active"
    used = client.get(config_url, headers={"Authorization": f"Bearer {token}"})
    assert used.status_code == 401
    # Active at once; personal data only as asked for (here none).
    claims = driver.verify(driver.launch(user="learner-1", link="rl-a1", client=client_id)
                           ["id_token"], audience=client_id)
    assert not {"name", "given_name", "family_name", "email"} & set(claims)
    platform_claim = claims["https://purl.imsglobal.org/spec/lti/claim/tool_platform"]
    assert platform_claim["product_family_code"] == "canvas"


@pytest.mark.parametrize(
    "change",
    [
        {"application_type": "native"},
        {"grant_types": ["implicit"]},
        {"response_types": ["code"]},
        {"redirect_uris": []},
        {"initiate_login_uri": "/lti/login"},
        {"client_name": ""},
        {"jwks_uri": None},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {TOOL_CONF: None},
        {TOOL_CONF: {"domain": "other.test", "target_link_uri": "http://tool.test/lti/launch"}},
        {TOOL_CONF: {"domain": "tool.test", "target_link_uri": "http://tool.test/x",
                     "messages": [{"label": "no type"}]}},
    ],
)
def test_invalid_registration_is_refused_and_keeps_the_token(driver, client, fake_tool, change):
    _config_url, token = _start(driver, "moodle")
    body = {k: v for k, v in {**_registration(jwks_uri=fake_tool.jwks_url), **change}.items()
            if v is not None}
    response = _register(client, token, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"
    assert _register(client, token, _registration(jwks_uri=fake_tool.jwks_url)
                     ).status_code == 200


def test_register_without_a_token_is_refused(client, fake_tool):
    assert _register(client, None, _registration(jwks_uri=fake_tool.jwks_url)).status_code == 401
    assert _register(client, "forged", _registration(jwks_uri=fake_tool.jwks_url)
                     ).status_code == 401


def test_registration_start_form_and_bad_input(client):
    form = client.get("/register/start")
    assert form.status_code == 200 and 'name="tool_url"' in form.get_data(as_text=True)
    assert client.get("/register/start?variant=blackboard&tool_url=http://t.test"
                      ).status_code == 400
    assert client.get("/register/start?tool_url=javascript:alert(1)").status_code == 400


def test_control_api_issues_registration_tokens(client, fake_tool):
    issued = client.post("/control/registration-token", json={"variant": "canvas"}).get_json()
    assert issued["openid_configuration"].endswith("?variant=canvas")
    response = _register(client, issued["registration_token"],
                         _registration(jwks_uri=fake_tool.jwks_url))
    assert response.status_code == 200
