"""The educator's settings page (lock after a submission, "save as a new version") and the
deep-linking response's claims (data echoed only when sent; the signature verifies
against the tool's published key)."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from lti_tool.lti import deep_linking
from lti_tool.persistence import models
from lti_tool.services import attempts
from tests.functional.conftest import text_of

FORM = {"title": "KSF review", "top_level": "2", "target_level": "2", "self_assessment": "on",
        "pass_mark_percent": "70", "new_attempts_allowed": "on"}


@pytest.fixture
def educator(world, course):
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    return ls


def test_settings_page_shows_and_saves_settings(pages, educator, world, course):
    page = pages.get("/activity/settings", educator)
    assert page.status_code == 200
    assert 'value="Service improvement"' in page.text
    saved = pages.post("/activity/settings", educator, {**FORM, "action": "save"})
    assert saved.status_code == 303
    page = pages.get("/activity/settings", educator, saved="saved")
    assert "Settings saved." in text_of(page.text) and 'value="KSF review"' in page.text
    world.db.expire_all()
    activity = world.db.get(models.Activity, course.activity.id)
    assert activity.title == "KSF review" and activity.settings["top_level"] == 2


def test_settings_errors_are_shown_next_to_the_fields(pages, educator):
    response = pages.post("/activity/settings", educator, {
        "title": "x" * 201, "top_level": "1", "target_level": "2", "pass_mark_percent": "0"})
    assert response.status_code == 400
    text = text_of(response.text)
    assert "There is a problem" in text
    assert "The target level cannot be above the top level assessed." in text
    assert "Enter a pass mark from 1 to 100." in text
    assert "Choose at least one judgement that counts" in text
    assert 'id="pass_mark_percent-error"' in response.text
    assert 'value="0"' in response.text  # what the educator typed stays


def test_scoring_settings_lock_once_an_attempt_is_submitted(pages, educator, world, course,
                                                             runtime):
    learner = course.learners[0]
    activity = world.db.get(models.Activity, course.activity.id)
    row = attempts.start_attempt(world.db, runtime.content, activity, learner)
    attempts.submit(world.db, runtime.content, row, row.version, actor=learner)
    world.commit()
    page = pages.get("/activity/settings", educator)
    text = text_of(page.text)
    assert "Scoring settings are locked." in text and "Save as a new version" in text
    locked = pages.post("/activity/settings", educator, {**FORM, "action": "save"})
    assert locked.status_code == 409
    assert "Save them as a new version instead" in text_of(locked.text)
    assert 'value="KSF review"' in locked.text
    # The title alone (not a scoring setting) still saves.
    current = dict(activity.settings)
    title_only = {"title": "Renamed", "top_level": str(current["top_level"]),
                  "target_level": str(current["target_level"]),
                  "pass_mark_percent": str(current["pass_mark_percent"]),
                  **{k: "on" for k in ("knowledge_check", "self_assessment", "review_required",
                                       "new_attempts_allowed") if current[k]}}
    assert pages.post("/activity/settings", educator, {**title_only, "action": "save"}
                      ).status_code == 303
    new_version = pages.post("/activity/settings", educator, {**FORM, "action": "new_version"})
    assert new_version.status_code == 303
    page = pages.get("/activity/settings", educator, saved="new_version")
    assert "Saved as version 2" in text_of(page.text)
    world.db.expire_all()
    activity = world.db.get(models.Activity, course.activity.id)
    assert activity.settings_version == 2 and activity.settings["top_level"] == 2
    # The submitted attempt keeps the settings it started with.
    kept = world.db.scalars(select(models.Attempt).where(models.Attempt.id == row.id)).one()
    assert attempts.domain_attempt(kept).settings.top_level == 4


def test_learners_cannot_reach_the_settings_page(pages, world, course):
    ls = world.launch(course.learners[0], course.context, course.link, "learner")
    world.commit()
    assert pages.get("/activity/settings", ls).status_code == 403
    assert pages.post("/activity/settings", ls, FORM).status_code == 403


def test_the_deep_link_page_needs_a_deep_linking_launch(pages, educator):
    response = pages.get("/activity/deep-link", educator)
    assert response.status_code == 400
    assert response.headers["X-Error-Code"] == "not_deep_linking"


def _claims(settings):
    return deep_linking.response_claims(
        client_id="client-1", platform_issuer="https://lms.example.org",
        deployment_id="dep-1", settings=settings, content_items=[
            deep_linking.resource_link_item(
                title="KSF", url="https://tool.example.org/lti/launch",
                line_item=deep_linking.LineItem("KSF", 3, "act-1"),
                custom={"activity_id": "act-1"})])


def test_data_is_echoed_exactly_and_only_when_sent():
    opaque = {"nested": ["value", 1]}
    assert _claims({"data": opaque})[deep_linking.CLAIM_DATA] == opaque
    assert _claims({"data": "csrf-token-abc"})[deep_linking.CLAIM_DATA] == "csrf-token-abc"
    assert deep_linking.CLAIM_DATA not in _claims({})
    assert deep_linking.CLAIM_DATA not in _claims({"data": None})
    claims = _claims({})
    [item] = claims[deep_linking.CLAIM_CONTENT_ITEMS]
    assert item["lineItem"] == {"label": "KSF", "scoreMaximum": 3, "resourceId": "act-1",
                                "tag": "ksf-level"}
    assert item["custom"] == {"activity_id": "act-1"}
    assert claims["iss"] == "client-1" and claims["aud"] == "https://lms.example.org"
    assert claims["exp"] - claims["iat"] == deep_linking.RESPONSE_LIFETIME_SECONDS
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "dep-1"
    assert claims["nonce"] != _claims({})["nonce"]
    no_custom = deep_linking.resource_link_item(title="t", url="https://x.example/l")
    assert "custom" not in no_custom and "lineItem" not in no_custom


def test_the_response_verifies_with_the_published_key(app, runtime):
    with app.app_context(), runtime.session() as db:
        key = runtime.keyring.signing_key(db)
        token = deep_linking.sign_response(_claims({"data": "x"}), key)
        [public] = [k for k in runtime.keyring.jwks(db)["keys"] if k["kid"] == key.kid]
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    verified = jwt.decode(token, jwt.PyJWK(public).key, algorithms=["RS256"],
                          audience="https://lms.example.org")
    assert verified[deep_linking.CLAIM_DATA] == "x"
