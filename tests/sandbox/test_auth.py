"""The OIDC authorization endpoint and launch start refuse malformed requests."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "code"}, "unsupported_response_type"),
        ({"response_mode": "query"}, "invalid_request"),
        ({"prompt": "login"}, "invalid_request"),
        ({"client_id": "someone-else"}, "unauthorized_client"),
        ({"client_id": None}, "unauthorized_client"),
        ({"redirect_uri": "http://evil.test/lti/launch"}, "invalid_redirect_uri"),
        ({"login_hint": None}, "invalid_request"),
        ({"login_hint": "learner-2"}, "login_required"),
        ({"lti_message_hint": None}, "invalid_request"),
        ({"lti_message_hint": "hint-forged"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"state": None}, "invalid_request"),
    ],
)
def test_auth_refuses_a_bad_authorization_request(driver, client, override, code):
    login = driver.start(user="learner-1", link="rl-a1")
    params = driver.auth_params(login, **override)
    for method in ("get", "post"):
        if method == "get":
            response = client.get("/auth", query_string=params)
        else:
            response = client.post("/auth", data=params)
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert f'<code id="error-code">{code}</code>' in html
        assert 'name="id_token"' not in html


def test_auth_accepts_post(driver, client):
    login = driver.start(user="learner-1", link="rl-a1")
    response = client.post("/auth", data=driver.auth_params(login))
    assert response.status_code == 200
    assert 'name="id_token"' in response.get_data(as_text=True)


def test_hint_is_bound_to_its_client(driver, client, sandbox):
    with sandbox.mutate() as data:
        data["clients"]["other"] = {
            **sandbox.default_client(), "client_id": "other", "name": "Other",
        }
    login = driver.start(user="learner-1", link="rl-a1")
    params = driver.auth_params(login, client_id="other")
    response = client.get("/auth", query_string=params)
    assert response.status_code == 400
    assert "another client" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"user": "nobody", "link": "rl-a1"}, "unknown_user"),
        ({"user": "learner-1", "link": "rl-zz"}, "unknown_link"),
        ({"user": "learner-3", "link": "rl-b1"}, "not_enrolled"),
        ({"user": "learner-1", "link": "rl-a1", "fault": "melt"}, "unknown_fault"),
        ({"user": "learner-1", "link": "rl-a1", "variant": "odd"}, "unknown_variant"),
        ({"user": "learner-1", "link": "rl-a1", "client": "ghost"}, "unknown_client"),
        ({"user": "learner-1", "link": "rl-a1", "context": "course-b"}, "bad_context"),
        ({"user": "learner-1", "message": "deep_link", "context": "course-z"}, "unknown_context"),
    ],
)
def test_launch_start_refuses_what_it_cannot_launch(client, params, code):
    response = client.get("/launch/start", query_string=params)
    assert response.status_code == 400
    assert f'<code id="error-code">{code}</code>' in response.get_data(as_text=True)


def test_error_pages_escape_what_they_echo(client):
    response = client.get("/launch/start", query_string={"user": "<script>x</script>"})
    html = response.get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
