"""The deep linking return: the tool's response is verified, then the activity is added."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

L = "https://purl.imsglobal.org/spec/lti/claim/"
DLC = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DL = DLC + "deep_linking_settings"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


def _request(driver, context="course-a") -> dict[str, Any]:
    launch = driver.launch(user="instructor-1", message="deep_link", context=context)
    return driver.verify(launch["id_token"])


def _item(**extra) -> dict[str, Any]:
    item = {
        "type": "ltiResourceLink", "title": "KSF Service improvement",
        "text": "Assess your level", "url": "http://tool.test/lti/launch",
        "custom": {"activity_id": "act-42", "who": "$User.id"},
        "lineItem": {"label": "KSF level", "scoreMaximum": 4, "resourceId": "act-42",
                     "tag": "ksf-level"},
    }
    item.update(extra)
    return item


def _response_claims(request_claims, **overrides) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "sandbox-client", "aud": "http://sandbox.test", "iat": now, "exp": now + 300,
        "nonce": uuid.uuid4().hex,
        L + "message_type": "LtiDeepLinkingResponse", L + "version": "1.3.0",
        L + "deployment_id": request_claims[L + "deployment_id"],
        DLC + "data": request_claims[DL]["data"],
        DLC + "content_items": [_item()],
        DLC + "msg": "Added <KSF>",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _return(driver, token: str):
    return driver.client.post("/deep-link/return", data={"JWT": token})


def test_valid_response_adds_the_link_and_its_line_item(driver, sandbox):
    request_claims = _request(driver)
    response = _return(driver, driver.tool.sign(_response_claims(request_claims)))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "Activity added" in html and "KSF Service improvement" in html
    assert "Added &lt;KSF&gt;" in html
    state = sandbox.snapshot()
    link = next(link for link in state["links"] if link["created_by"] == "deep_link")
    assert link["context_id"] == "course-a" and link["title"] == "KSF Service improvement"
    assert link["custom"] == {"activity_id": "act-42", "who": "$User.id"}
    item = next(i for i in state["lineitems"] if i["local_id"] == link["lineitem_id"])
    assert item["label"] == "KSF level" and item["scoreMaximum"] == 4
    assert item["resourceId"] == "act-42" and item["tag"] == "ksf-level"
    assert item["resourceLinkId"] == link["id"]
    recorded = state["deep_link_responses"][-1]
    assert recorded["ok"] and recorded["created_links"] == [link["id"]]

    claims = driver.verify(driver.launch(user="learner-2", link=link["id"])["id_token"])
    assert claims[L + "resource_link"]["id"] == link["id"]
    assert claims[L + "custom"] == {"activity_id": "act-42", "who": "learner-2"}
    assert claims[AGS]["lineitem"] == item["id"]
    assert claims[L + "target_link_uri"] == "http://tool.test/lti/launch"
    assert link["id"] in driver.client.get("/").get_data(as_text=True)


def test_empty_response_adds_nothing(driver, sandbox):
    request_claims = _request(driver)
    claims = _response_claims(request_claims, **{DLC + "content_items": []})
    response = _return(driver, driver.tool.sign(claims))
    assert response.status_code == 200 and "No activity added" in response.get_data(as_text=True)
    assert len(sandbox.snapshot()["links"]) == 3


def test_item_without_line_item_gets_no_column(driver, sandbox):
    request_claims = _request(driver, context="course-b")
    item = _item()
    del item["lineItem"]
    response = _return(driver, driver.tool.sign(
        _response_claims(request_claims, **{DLC + "content_items": [item]})))
    assert response.status_code == 200
    link = sandbox.snapshot()["links"][-1]
    assert link["context_id"] == "course-b" and link["lineitem_id"] is None


REJECTIONS = [
    ("wrong_audience", lambda d, r: d.tool.sign(_response_claims(r, aud="http://other.test"))),
    ("bad_signature", lambda d, r: d.tool.sign(_response_claims(r), key=d.tool.unpublished_key)),
    ("expired", lambda d, r: d.tool.sign(_response_claims(
        r, iat=int(time.time()) - 900, exp=int(time.time()) - 600))),
    ("missing_claim", lambda d, r: d.tool.sign(_response_claims(r, exp=None))),
    ("unknown_client", lambda d, r: d.tool.sign(_response_claims(r, iss="ghost"))),
    ("missing_nonce", lambda d, r: d.tool.sign(_response_claims(r, nonce=None))),
    ("wrong_message_type", lambda d, r: d.tool.sign(_response_claims(
        r, **{L + "message_type": "LtiResourceLinkRequest"}))),
    ("wrong_version", lambda d, r: d.tool.sign(_response_claims(r, **{L + "version": "1.1"}))),
    ("wrong_deployment", lambda d, r: d.tool.sign(_response_claims(
        r, **{L + "deployment_id": "other-deployment"}))),
    ("data_mismatch", lambda d, r: d.tool.sign(_response_claims(r, **{DLC + "data": "forged"}))),
    ("data_mismatch", lambda d, r: d.tool.sign(_response_claims(r, **{DLC + "data": None}))),
    ("too_many_items", lambda d, r: d.tool.sign(_response_claims(
        r, **{DLC + "content_items": [_item(), _item()]}))),
    ("unaccepted_type", lambda d, r: d.tool.sign(_response_claims(
        r, **{DLC + "content_items": [_item(type="file")]}))),
    ("bad_custom", lambda d, r: d.tool.sign(_response_claims(
        r, **{DLC + "content_items": [_item(custom={"n": 1})]}))),
    ("bad_line_item", lambda d, r: d.tool.sign(_response_claims(
        r, **{DLC + "content_items": [_item(lineItem={"label": "x"})]}))),
    ("missing_kid", lambda d, r: d.tool.sign(_response_claims(r), kid=None)),
    ("not_a_jwt", lambda d, r: "garbage"),
    ("missing_jwt", lambda d, r: ""),
]


@pytest.mark.parametrize(("code", "make"), REJECTIONS)
def test_bad_response_is_refused_with_its_reason(driver, sandbox, code, make):
    request_claims = _request(driver)
    response = _return(driver, make(driver, request_claims))
    assert response.status_code == 400
    assert f'<code id="error-code">{code}</code>' in response.get_data(as_text=True)
    state = sandbox.snapshot()
    assert len(state["links"]) == 3
    assert state["deep_link_responses"][-1]["ok"] is False
    assert state["deep_link_responses"][-1]["error"] == code


def test_nonce_is_single_use(driver, sandbox):
    first = _request(driver)
    nonce = uuid.uuid4().hex
    assert _return(driver, driver.tool.sign(_response_claims(first, nonce=nonce))
                   ).status_code == 200
    second = _request(driver)
    replay = _return(driver, driver.tool.sign(_response_claims(second, nonce=nonce)))
    assert replay.status_code == 400
    assert "nonce_reused" in replay.get_data(as_text=True)


def test_a_request_is_answered_once(driver):
    request_claims = _request(driver)
    assert _return(driver, driver.tool.sign(_response_claims(request_claims))).status_code == 200
    again = _return(driver, driver.tool.sign(_response_claims(request_claims)))
    assert again.status_code == 400 and "request_used" in again.get_data(as_text=True)


def test_data_of_another_client_is_refused(driver, sandbox):
    with sandbox.mutate() as data:
        data["clients"]["other"] = {**sandbox.default_client(), "client_id": "other"}
    request_claims = _request(driver)
    response = _return(driver, driver.tool.sign(_response_claims(request_claims, iss="other")))
    assert response.status_code == 400 and "data_mismatch" in response.get_data(as_text=True)


def test_tool_key_set_is_refetched_on_an_unknown_kid(driver, fake_tool):
    _request(driver)
    before = fake_tool.fetches
    response = _return(driver, driver.tool.sign(_response_claims(_request(driver)), kid="rotated"))
    assert "unknown_kid" in response.get_data(as_text=True)
    assert fake_tool.fetches == before + 1
