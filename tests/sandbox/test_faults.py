"""Fault switches for the next N service calls, and the control API."""

from __future__ import annotations

import time

import pytest
import requests

from lti_tool.sandbox import SandboxConfig, create_sandbox_app

SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LI_A1 = "/api/ags/course-a/lineitems/li-a1"


def _fault(client, **body):
    response = client.post("/control/faults", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


def _score(second):
    return {"userId": "learner-1", "timestamp": f"2026-11-02T10:00:{second:02d}Z",
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "scoreGiven": 3, "scoreMaximum": 4}


def _post_score(driver, token, second):
    return driver.call("POST", LI_A1 + "/scores", token, json=_score(second),
                       headers={"Content-Type": SCORE_TYPE})


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [("500", 500, "server_error"), ("409", 409, "conflict"), ("401", 401, "invalid_token"),
     ("403", 403, "insufficient_scope"), ("404", 404, "not_found")],
)
def test_fault_answers_the_next_n_calls_then_stops(driver, client, sandbox, kind, status, error):
    token = driver.token([SCORE])
    _fault(client, endpoint="scores", kind=kind, count=2)
    for second in (1, 2):
        response = _post_score(driver, token, second)
        assert response.status_code == status and response.get_json()["error"] == error
    assert _post_score(driver, token, 3).status_code == 204
    results = sandbox.snapshot()["results"]
    assert results["http://sandbox.test" + LI_A1]["learner-1"]["timestamp"].endswith(":03Z")
    assert sandbox.snapshot()["faults"] == []


def test_429_carries_retry_after(driver, client):
    _fault(client, endpoint="token", kind="429", count=1, retry_after=7)
    limited = driver.request_token([SCORE])
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert driver.request_token([SCORE]).status_code == 200


def test_slow_answers_late_but_correctly(driver, client):
    token = driver.token([NRPS])
    _fault(client, endpoint="nrps", kind="slow", count=1, delay=0.3)
    started = time.monotonic()
    response = driver.call("GET", "/api/nrps/course-b/memberships", token)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.get_json()["members"]


def test_faults_only_hit_their_endpoint(driver, client):
    token = driver.token([SCORE, NRPS])
    _fault(client, endpoint="results", kind="500", count=1)
    assert driver.call("GET", "/api/nrps/course-b/memberships", token).status_code == 200
    assert _post_score(driver, token, 1).status_code == 204


def test_drop_closes_the_connection_without_an_answer(live_sandbox, driver, client, sandbox):
    token = driver.token([SCORE])
    _fault(client, endpoint="scores", kind="drop", count=1)
    url = sandbox.config.url(LI_A1 + "/scores")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE,
               "User-Agent": "sandbox-tests/1"}
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.post(url, json=_score(1), headers=headers, timeout=30)
        answered = session.post(url, json=_score(2), headers=headers, timeout=30)
    assert answered.status_code == 204
    assert sandbox.snapshot()["counts"]["scores"] == 2


def test_drop_in_the_test_client_raises_a_connection_error(driver, client):
    token = driver.token([SCORE])
    _fault(client, endpoint="scores", kind="drop", count=1)
    with pytest.raises(ConnectionError):
        _post_score(driver, token, 1).get_data()


@pytest.mark.parametrize(
    "body",
    [{"endpoint": "gradebook", "kind": "500"}, {"endpoint": "scores", "kind": "418"},
     {"endpoint": "scores", "kind": "500", "count": 0},
     {"endpoint": "scores", "kind": "slow", "delay": "soon"}],
)
def test_bad_fault_requests_are_refused(client, body):
    response = client.post("/control/faults", json=body)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_fault"


def test_faults_can_be_listed_and_cleared(client):
    _fault(client, endpoint="register", kind="500", count=3)
    assert client.get("/control/faults").get_json()[0]["remaining"] == 3
    assert client.delete("/control/faults").status_code == 204
    assert client.get("/control/faults").get_json() == []


def test_reset_restores_the_initial_world(driver, client, sandbox):
    token = driver.token([SCORE])
    assert _post_score(driver, token, 1).status_code == 204
    _fault(client, endpoint="scores", kind="500")
    assert client.post("/control/reset").status_code == 204
    state = client.get("/control/state").get_json()
    assert state["scores"] == {} and state["faults"] == [] and state["counts"] == {}
    assert [link["id"] for link in state["links"]] == ["rl-a1", "rl-a2", "rl-b1"]
    assert "access_tokens" not in state and "registration_tokens" not in state


def test_state_shows_the_world(client):
    state = client.get("/control/state").get_json()
    assert state["issuer"] == "http://sandbox.test"
    assert [c["client_id"] for c in state["clients"]] == ["sandbox-client"]
    assert {i["local_id"] for i in state["lineitems"]} == {"li-a1", "li-b1"}
    assert state["deep_link_responses"] == [] and state["registrations"] == []


def test_key_rotation_publishes_the_new_key(driver, client, sandbox):
    old_kid = sandbox.keys.current.kid
    rotated = client.post("/control/rotate-key", json={}).get_json()
    assert rotated["kid"] != old_kid
    kids = [k["kid"] for k in client.get("/jwks").get_json()["keys"]]
    assert kids == [rotated["kid"], old_kid]
    launch = driver.launch(user="learner-1", link="rl-a1")
    assert driver.verify(launch["id_token"])["sub"] == "learner-1"


def test_control_api_can_be_switched_off(cfg):
    cfg.control_api = False
    client = create_sandbox_app(cfg).test_client()
    assert client.get("/control/state").status_code == 404
    assert client.post("/control/faults", json={"endpoint": "token", "kind": "500"}
                       ).status_code == 404
    assert client.get("/").status_code == 200


def test_config_urls():
    cfg = SandboxConfig(base_url="http://127.0.0.1:5000/sandbox/", tool_login_url="x",
                        tool_launch_url="y", tool_jwks_url="z")
    assert cfg.issuer == "http://127.0.0.1:5000/sandbox"
    assert cfg.auth_login_url == "http://127.0.0.1:5000/sandbox/auth"
    assert cfg.token_url == "http://127.0.0.1:5000/sandbox/token"
    assert cfg.jwks_url == "http://127.0.0.1:5000/sandbox/jwks"
