"""Token endpoint, NRPS and AGS behind it, with Moodle's score rules."""

from __future__ import annotations

import time

import pytest

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ALL = [LINEITEM, READONLY, RESULT, SCORE, NRPS_SCOPE]
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LI_A1 = "/api/ags/course-a/lineitems/li-a1"


# -- token endpoint ---------------------------------------------------------------------------


def test_token_endpoint_grants_a_bearer_token_for_granted_scopes(driver):
    response = driver.request_token([SCORE, NRPS_SCOPE])
    body = response.get_json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == f"{SCORE} {NRPS_SCOPE}"
    assert len(body["access_token"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"


def test_token_audience_may_be_the_issuer(driver):
    assertion = driver.tool.sign(driver.assertion(aud="http://sandbox.test"))
    assert driver.request_token([SCORE], assertion=assertion).status_code == 200


@pytest.mark.parametrize(
    ("make_assertion", "reason"),
    [
        (lambda d: d.tool.sign(d.assertion(), key=d.tool.unpublished_key), "bad_signature"),
        (lambda d: d.tool.sign(d.assertion(aud="http://elsewhere.test/token")),
         "wrong_audience"),
        (lambda d: d.tool.sign(d.assertion(exp=int(time.time()) - 120,
                                           iat=int(time.time()) - 400)), "expired"),
        (lambda d: d.tool.sign(d.assertion(exp=None)), "missing_claim"),
        (lambda d: d.tool.sign(d.assertion(sub="someone")), "sub must equal iss"),
        (lambda d: d.tool.sign(d.assertion(jti=None)), "no jti"),
        (lambda d: d.tool.sign(d.assertion(iss="ghost", sub="ghost")), "unknown_client"),
        (lambda d: d.tool.sign(d.assertion(), kid="nope"), "unknown_kid"),
        (lambda d: d.tool.sign(d.assertion(), kid=None), "missing_kid"),
        (lambda d: d.tool.sign(d.assertion(), key="a-shared-secret-of-at-least-32-bytes!", algorithm="HS256"),
         "unsupported_alg"),
        (lambda d: "not-a-jwt", "not_a_jwt"),
    ],
)
def test_token_endpoint_refuses_a_bad_client_assertion(driver, make_assertion, reason):
    response = driver.request_token([SCORE], assertion=make_assertion(driver))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert reason in response.get_json()["error_description"]


def test_client_assertion_jti_is_single_use(driver):
    assertion = driver.tool.sign(driver.assertion())
    assert driver.request_token([SCORE], assertion=assertion).status_code == 200
    again = driver.request_token([SCORE], assertion=assertion)
    assert again.status_code == 401
    assert "jti" in again.get_json()["error_description"]


def test_token_endpoint_refuses_bad_grants_and_scopes(driver):
    assert driver.request_token([SCORE], grant_type="password").get_json()["error"] == (
        "unsupported_grant_type"
    )
    assert driver.request_token([SCORE], client_assertion_type="basic").status_code == 400
    unknown = driver.request_token([SCORE, "https://example.test/scope/admin"])
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_scope"
    assert driver.request_token([]).get_json()["error"] == "invalid_scope"


# -- bearer checks ----------------------------------------------------------------------------


def test_service_calls_need_user_agent_token_and_scope(driver, client):
    token = driver.token([SCORE])
    url = "/api/nrps/course-a/memberships"
    no_agent = driver.call("GET", url, token, headers={"User-Agent": ""})
    assert no_agent.status_code == 400 and no_agent.get_json()["error"] == "user_agent_required"
    anonymous = client.get(url, headers={"User-Agent": "t"})
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert driver.call("GET", url, "forged-token").status_code == 401
    wrong_scope = driver.call("GET", url, token)
    assert wrong_scope.status_code == 403
    assert wrong_scope.get_json()["error"] == "insufficient_scope"


# -- NRPS -------------------------------------------------------------------------------------


def test_nrps_pages_with_case_sensitive_tokens(driver, sandbox):
    token = driver.token([NRPS_SCOPE])
    response = driver.call("GET", "/api/nrps/course-a/memberships", token)
    assert response.status_code == 200
    assert response.content_type == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    body = response.get_json()
    assert body["context"]["id"] == "course-a" and len(body["members"]) == 50
    first = body["members"][0]
    assert first == {
        "status": "Active", "user_id": "learner-1",
        "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        "name": "Alex Morgan", "given_name": "Alex", "family_name": "Morgan",
        "email": "alex.morgan@example.org",
    }
    members = list(body["members"])
    link = response.headers["Link"]
    pages = 1
    while link:
        next_url = link.split(">")[0].lstrip("<")
        assert 'rel="next"' in link and next_url.startswith("http://sandbox.test/")
        assert next_url != next_url.lower()
        lowered = driver.call("GET", next_url.lower(), token)
        assert lowered.status_code in (400, 404)
        page = driver.call("GET", next_url, token)
        assert page.status_code == 200
        members += page.get_json()["members"]
        link = page.headers.get("Link")
        pages += 1
    assert pages == 3
    assert len(members) == 128 == len({m["user_id"] for m in members})
    mentor = next(m for m in members if m["user_id"] == "mentor-1")
    assert mentor["roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]


def test_nrps_limit_and_role_filter(driver):
    token = driver.token([NRPS_SCOPE])
    small = driver.call("GET", "/api/nrps/course-b/memberships?limit=2", token)
    assert len(small.get_json()["members"]) == 2 and "Link" in small.headers
    instructors = driver.call("GET", "/api/nrps/course-a/memberships?role=Instructor", token)
    assert {m["user_id"] for m in instructors.get_json()["members"]} == {"instructor-1", "ta-1"}
    assert driver.call("GET", "/api/nrps/course-a/memberships?limit=0", token).status_code == 400
    assert driver.call("GET", "/api/nrps/course-z/memberships", token).status_code == 404


# -- AGS line items ---------------------------------------------------------------------------


def test_lineitems_list_filter_create_update_delete(driver):
    token = driver.token([LINEITEM])
    listing = driver.call("GET", "/api/ags/course-a/lineitems", token)
    assert listing.content_type == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    assert listing.get_json() == [{
        "id": "http://sandbox.test/api/ags/course-a/lineitems/li-a1",
        "label": "Service improvement level", "scoreMaximum": 4, "resourceLinkId": "rl-a1",
    }]
    body = {"label": "KSF level", "scoreMaximum": 4, "resourceLinkId": "rl-a2",
            "resourceId": "activity-7", "tag": "ksf-level"}
    wrong_type = driver.call("POST", "/api/ags/course-a/lineitems", token, json=body)
    assert wrong_type.status_code == 415
    created = driver.call("POST", "/api/ags/course-a/lineitems", token, json=body,
                          headers={"Content-Type": LINEITEM_TYPE})
    assert created.status_code == 201 and created.content_type == LINEITEM_TYPE
    item = created.get_json()
    assert item["id"].startswith("http://sandbox.test/api/ags/course-a/lineitems/li-")
    assert {k: item[k] for k in body} == body
    found = driver.call("GET", "/api/ags/course-a/lineitems?resource_link_id=rl-a2&tag=ksf-level",
                        token).get_json()
    assert [i["id"] for i in found] == [item["id"]]
    assert driver.call("GET", "/api/ags/course-a/lineitems?tag=other", token).get_json() == []
    bad = driver.call("POST", "/api/ags/course-a/lineitems", token,
                      json={"label": "x", "scoreMaximum": 0},
                      headers={"Content-Type": LINEITEM_TYPE})
    assert bad.status_code == 400
    foreign = driver.call("POST", "/api/ags/course-a/lineitems", token,
                          json={"label": "x", "scoreMaximum": 1, "resourceLinkId": "rl-b1"},
                          headers={"Content-Type": LINEITEM_TYPE})
    assert foreign.status_code == 400
    updated = driver.call("PUT", item["id"], token, json={**body, "scoreMaximum": 3},
                          headers={"Content-Type": LINEITEM_TYPE})
    assert updated.status_code == 200 and updated.get_json()["scoreMaximum"] == 3
    assert driver.call("GET", item["id"], token).get_json()["scoreMaximum"] == 3
    assert driver.call("DELETE", item["id"], token).status_code == 204
    assert driver.call("GET", item["id"], token).status_code == 404
    score_token = driver.token([SCORE])
    gone = driver.call("POST", item["id"] + "/scores", score_token, json=_score("learner-1", 1),
                       headers={"Content-Type": SCORE_TYPE})
    assert gone.status_code == 404


def test_lineitem_paging(driver):
    token = driver.token([LINEITEM])
    for n in range(4):
        driver.call("POST", "/api/ags/course-b/lineitems", token,
                    json={"label": f"col {n}", "scoreMaximum": 1},
                    headers={"Content-Type": LINEITEM_TYPE})
    first = driver.call("GET", "/api/ags/course-b/lineitems?limit=2", token)
    assert len(first.get_json()) == 2
    next_url = first.headers["Link"].split(">")[0].lstrip("<")
    second = driver.call("GET", next_url, token)
    third = driver.call("GET", second.headers["Link"].split(">")[0].lstrip("<"), token)
    labels = [i["label"] for i in first.get_json() + second.get_json() + third.get_json()]
    assert labels == ["Leading improvement level", "col 0", "col 1", "col 2", "col 3"]
    assert "Link" not in third.headers


def test_readonly_scope_cannot_write(driver):
    token = driver.token([READONLY])
    assert driver.call("GET", LI_A1, token).status_code == 200
    response = driver.call("POST", "/api/ags/course-a/lineitems", token,
                           json={"label": "x", "scoreMaximum": 1},
                           headers={"Content-Type": LINEITEM_TYPE})
    assert response.status_code == 403


# -- scores and results -----------------------------------------------------------------------


def _score(user, given, *, ts="2026-11-02T10:00:00.000Z", grading="FullyGraded", **extra):
    body = {"userId": user, "timestamp": ts, "activityProgress": "Completed",
            "gradingProgress": grading}
    if given is not None:
        body.update(scoreGiven=given, scoreMaximum=4)
    body.update(extra)
    return body


def _post(driver, token, body, lineitem=LI_A1):
    return driver.call("POST", lineitem + "/scores", token, json=body,
                       headers={"Content-Type": SCORE_TYPE})


def _results(driver, **query):
    token = driver.token([RESULT])
    response = driver.call("GET", LI_A1 + "/results", token, query_string=query)
    assert response.content_type == "application/vnd.ims.lis.v2.resultcontainer+json"
    return response.get_json()


def test_score_rules_follow_moodle(driver, sandbox):
    token = driver.token([SCORE])
    first = _post(driver, token, _score("learner-1", 2, comment="Level 2"))
    assert first.status_code == 204
    assert _results(driver) == [{
        "id": "http://sandbox.test/api/ags/course-a/lineitems/li-a1/results/learner-1",
        "scoreOf": "http://sandbox.test/api/ags/course-a/lineitems/li-a1",
        "userId": "learner-1", "resultScore": 2, "resultMaximum": 4, "comment": "Level 2",
        "timestamp": "2026-11-02T10:00:00.000Z",
    }]
    same_second = _post(driver, token, _score("learner-1", 3, ts="2026-11-02T10:00:00.900Z"))
    assert same_second.status_code == 409
    older = _post(driver, token, _score("learner-1", 3, ts="2026-11-02T09:59:59Z"))
    assert older.status_code == 409
    assert _results(driver)[0]["resultScore"] == 2
    pending = _post(driver, token, _score("learner-1", 3, ts="2026-11-02T10:00:01Z",
                                          grading="PendingManual", comment="awaiting review"))
    assert pending.status_code == 204
    cleared = _results(driver, user_id="learner-1")[0]
    assert "resultScore" not in cleared and cleared["comment"] == "awaiting review"
    history = sandbox.snapshot()["scores"][
        "http://sandbox.test/api/ags/course-a/lineitems/li-a1"]["learner-1"]
    assert [s["timestamp"] for s in history] == [
        "2026-11-02T10:00:00.000Z", "2026-11-02T10:00:01Z"]
    rejected = sandbox.snapshot()["score_rejections"]
    assert [r["status"] for r in rejected] == [409, 409]


def test_score_maximum_defaults_to_one(driver):
    token = driver.token([SCORE])
    body = _score("learner-2", None)
    body["scoreGiven"] = 1
    assert _post(driver, token, body).status_code == 204
    result = _results(driver, user_id="learner-2")[0]
    assert result["resultScore"] == 1 and result["resultMaximum"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_score("nobody", 1), "user_not_enrolled"),
        (_score("instructor-1", 1), "user_not_enrolled"),
        (_score("learner-3", 1, userId=None), "invalid_score"),
        (_score("learner-3", 1, ts="yesterday"), "invalid_score"),
        (_score("learner-3", 1, ts="2026-11-02T10:00:00"), "invalid_score"),
        (_score("learner-3", 1, activityProgress="Done"), "invalid_score"),
        (_score("learner-3", 1, grading="Graded"), "invalid_score"),
        (_score("learner-3", -1), "invalid_score"),
    ],
)
def test_invalid_scores_are_refused(driver, body, code):
    response = _post(driver, driver.token([SCORE]), {k: v for k, v in body.items()
                                                     if v is not None})
    assert response.status_code == 400 and response.get_json()["error"] == code


def test_learner_of_course_b_cannot_be_scored_in_course_a(driver):
    token = driver.token([SCORE])
    assert _post(driver, token, _score("learner-3", 1), "/api/ags/course-b/lineitems/li-b1"
                 ).status_code == 400
    assert _post(driver, token, _score("admin-1", 1)).status_code == 204
    assert _post(driver, token, _score("learner-s120", 1)).status_code == 204


def test_score_needs_the_score_media_type(driver):
    response = driver.call("POST", LI_A1 + "/scores", driver.token([SCORE]),
                           json=_score("learner-1", 1))
    assert response.status_code == 415


def test_requests_are_counted(driver, sandbox):
    token = driver.token([SCORE])
    for second in range(3):
        _post(driver, token, _score("learner-1", 1, ts=f"2026-11-02T10:00:0{second}Z"))
    counts = sandbox.snapshot()["counts"]
    assert counts["token"] == 1 and counts["scores"] == 3
