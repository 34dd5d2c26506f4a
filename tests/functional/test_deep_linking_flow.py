"""Through the sandbox LMS (tool on localhost, LMS on 127.0.0.1): an educator adds the
activity by deep linking, the LMS accepts the signed response and creates the link with
its line item, and a learner takes the new activity; a link without settings gets
defaults; an activity id carried into another course only seeds a copy."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import jwt
import pytest
import requests
from sqlalchemy import select

from lti_tool.persistence import models
from tests.conftest import make_backend
from tests.functional.conftest import form_values, text_of
from tests.support.live import start_stack
from tests.support.lti_client import LtiBrowser, forms_of

DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"


class _LocalhostJar(requests.cookies.RequestsCookieJar):
    """Secure cookies to http://localhost, as Chromium sends them (requests merges the
    session's cookies into a default-policy jar per request, so a policy alone is lost)."""

    def set_cookie(self, cookie, *args, **kwargs):
        if cookie.domain in {"localhost", "localhost.local", "127.0.0.1"}:
            cookie.secure = False
        return super().set_cookie(cookie, *args, **kwargs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tool_private_key):
    """One tool + sandbox pair for the module (each test uses its own links and users)."""
    backend = make_backend("sqlite", tmp_path_factory.mktemp("dl"))
    running = start_stack(backend, tool_private_key)
    yield running
    running.stop()
    for cleanup in backend.cleanups:
        cleanup()


def browser(stack) -> LtiBrowser:
    made = LtiBrowser(stack)
    made.http.cookies = _LocalhostJar()
    return made


def launch(stack, user, link="", **params) -> tuple[LtiBrowser, requests.Response]:
    made = browser(stack)
    page = made.launch(user, link, **params)
    assert page.status_code == 200, text_of(page.text)[:400]
    return made, page


def post_form(made: LtiBrowser, page: requests.Response, form_index: int = 0, **changes):
    form = forms_of(page.text)[form_index]
    return made.http.post(urljoin(page.url, form["action"]), data={**form["fields"], **changes})


def deep_link(stack, settings: dict, context="course-a"):
    """An instructor's deep link with ``settings``; returns the LMS's answer and the tool's
    response page."""
    made, page = launch(stack, "instructor-1", message="deep_link", context=context)
    assert "/activity/deep-link" in page.url
    response = post_form(made, page, **settings)
    assert response.status_code == 200, text_of(response.text)[:500]
    lms = made.submit_auto_form(response)
    return lms, response


def test_deep_link_settings_signed_response_then_a_learner_takes_it(stack):
    made, page = launch(stack, "instructor-1", message="deep_link", context="course-a")
    assert "/activity/deep-link" in page.url
    text = text_of(page.text)
    assert "Add a competency assessment" in text and "Judgements that count" in text

    # A settings error is shown next to its field, with every typed value kept.
    bad = post_form(made, page, title="Appraisal 2027", top_level="2", target_level="3",
                    pass_mark_percent="80", knowledge_check="on")
    assert bad.status_code == 400
    assert "The target level cannot be above the top level assessed." in text_of(bad.text)
    assert 'value="Appraisal 2027"' in bad.text and 'value="80"' in bad.text
    assert 'aria-invalid="true"' in bad.text

    response = post_form(made, page, title="Appraisal 2027", top_level="1", target_level="1",
                         pass_mark_percent="80", knowledge_check="on", new_attempts_allowed="on")
    assert response.status_code == 200
    # The browser posts the signed response to the LMS: CSP must allow that form action.
    assert stack.lms_url in response.headers["Content-Security-Policy"].split(
        "form-action")[1].split(";")[0]
    [form] = forms_of(response.text)
    assert form["action"].startswith(stack.lms_url + "/") and "JWT" in form["fields"]
    claims = jwt.decode(form["fields"]["JWT"], options={"verify_signature": False})
    assert claims["iss"] == "sandbox-client" and claims["aud"] == stack.sandbox.config.issuer
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == \
        "LtiDeepLinkingResponse"

    lms = made.submit_auto_form(response)
    assert lms.status_code == 200, lms.text[:500]
    state = stack.sandbox.snapshot()
    outcome = state["deep_link_responses"][-1]
    assert outcome["ok"] is True, outcome
    # data echoed exactly as the platform sent it (the sandbox checked it against its own).
    requests_sent = stack.sandbox.data["deep_link_requests"]
    assert outcome["claims"][DL_DATA] in requests_sent
    [link_id] = outcome["created_links"]
    link = next(item for item in state["links"] if item["id"] == link_id)
    with stack.runtime.session() as db:
        activity = db.scalars(select(models.Activity).where(
            models.Activity.title == "Appraisal 2027")).one()
        public_id = activity.public_id
        assert activity.resource_link_pk is None  # bound on the link's first launch
    assert link["custom"] == {"activity_id": public_id}
    assert link["url"] == stack.tool_url + "/lti/launch"
    lineitem = next(item for item in state["lineitems"]
                    if item.get("resourceLinkId") == link_id)
    assert lineitem["scoreMaximum"] == 1 and lineitem["label"] == "Appraisal 2027"
    assert lineitem["resourceId"] == public_id and lineitem["tag"] == "ksf-level"

    # A learner launches the new link: the activity's settings apply.
    learner, start_page = launch(stack, "learner-1", link_id)
    text = text_of(start_page.text)
    assert "Appraisal 2027" in text and "Level 2" not in text
    assert "Each indicator's questions need 80% of their marks" in text
    started = post_form(learner, start_page)
    assert started.status_code == 200 and "/levels/1" in started.url
    fields = form_values(started.text, "level-form")
    # Submit without answering (the quickest path): final at once, level 0.
    review = learner.http.get(started.url.replace("/levels/1", "/review"))
    version = form_values(review.text)["version"]
    submit_url = re.search(r'action="([^"]*/submit[^"]*)"', review.text).group(1)
    result = learner.http.post(urljoin(review.url, submit_url.replace("&amp;", "&")),
                               data={"csrf_token": fields["csrf_token"], "ls": fields["ls"],
                                     "version": version, "confirm": "1"})
    assert result.status_code == 200 and "/result" in result.url
    assert "You have not yet met level 1" in text_of(result.text)
    with stack.runtime.session() as db:
        activity = db.scalars(select(models.Activity).where(
            models.Activity.public_id == public_id)).one()
        assert activity.resource_link_pk is not None
        assert db.scalars(select(models.GradeOutbox).where(
            models.GradeOutbox.activity_pk == activity.id)).first() is not None


def test_a_link_without_settings_gets_defaults(stack):
    _learner, page = launch(stack, "learner-2", "rl-a2")
    text = text_of(page.text)
    assert "Level 4" in text and "Your target is level 4" in text
    assert "Start the assessment" in text
    # The educator edits the same activity from their own launch of the link.
    educator, landing = launch(stack, "instructor-1", "rl-a2")
    edit = educator.http.get(f"{stack.tool_url}/activity/settings",
                             params={"ls": educator.launch_session(landing)})
    assert edit.status_code == 200
    assert 'value="Service improvement (no column)"' in edit.text


def test_an_activity_id_from_another_course_seeds_a_copy(stack):
    lms, _response = deep_link(stack, {
        "title": "Ward leaders", "top_level": "2", "target_level": "2",
        "self_assessment": "on", "review_required": "on", "new_attempts_allowed": "on"})
    assert lms.status_code == 200
    state = stack.sandbox.snapshot()
    link_id = state["deep_link_responses"][-1]["created_links"][0]
    public_id = next(link for link in state["links"] if link["id"] == link_id)["custom"][
        "activity_id"]
    launch(stack, "learner-1", link_id)  # binds the activity to its link in course A
    # Course copy: course B gets a link carrying course A's activity id.
    with stack.sandbox.mutate() as data:
        data["links"]["rl-b-copy"] = {
            "id": "rl-b-copy", "context_id": "course-b", "title": "Ward leaders (copied)",
            "text": "", "url": None, "custom": {"activity_id": public_id},
            "lineitem_id": None, "client_id": None, "created_by": "copy"}
    _learner, page = launch(stack, "learner-1", "rl-b-copy")
    text = text_of(page.text)
    assert "Ward leaders" in text and "Level 3" not in text
    assert "A reviewer" in text  # the copied settings
    with stack.runtime.session() as db:
        rows = db.scalars(select(models.Activity).where(
            (models.Activity.public_id == public_id)
            | (models.Activity.seeded_from == public_id))).all()
        source = next(r for r in rows if r.public_id == public_id)
        copy = next(r for r in rows if r.seeded_from == public_id)
        assert copy.id != source.id and copy.context_pk != source.context_pk
        assert copy.settings == source.settings
