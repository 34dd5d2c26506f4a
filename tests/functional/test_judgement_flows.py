"""Through the sandbox LMS, for each combination of judgements: the educator adds the
activity by deep linking, the learner answers level 1 and/or rates themself and submits,
an educator reviews, returns and signs off where a review is required, and the level
reaches the sandbox's gradebook (top level 1, target level 1, so each walk is short)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import pytest

from lti_tool.grading.runner import deliver_due
from tests.conftest import make_backend
from tests.functional.conftest import form_values, text_of
from tests.functional.test_deep_linking_flow import deep_link, launch
from tests.functional.test_learner_pages import best_fields, items_of
from tests.support.live import start_stack
from tests.support.lti_client import forms_of

LEARNER = "learner-1"
LEARNER_NAME = "Alex Morgan"
EDUCATOR = "instructor-1"

#: id -> the judgements that count (checkbox fields of the deep linking form).
COMBINATIONS = {
    "knowledge-only": {"knowledge_check": "on"},
    "self-only": {"self_assessment": "on"},
    "knowledge-and-self": {"knowledge_check": "on", "self_assessment": "on"},
    "review-knowledge-and-self": {"knowledge_check": "on", "self_assessment": "on",
                                  "review_required": "on"},
    "review-only": {"review_required": "on"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tool_private_key):
    """One tool + sandbox pair for the module (each case deep links its own activity)."""
    backend = make_backend("sqlite", tmp_path_factory.mktemp("judgements"))
    running = start_stack(backend, tool_private_key)
    yield running
    running.stop()
    for cleanup in backend.cleanups:
        cleanup()


def form_by(page, *, form_id: str | None = None, action: str | None = None) -> dict:
    """The page's form with ``form_id`` or whose action contains ``action``."""
    for form in forms_of(page.text):
        if (form_id and form["id"] == form_id) or (action and action in form["action"]):
            return form
    raise AssertionError(f"no such form on {page.url}: {text_of(page.text)[:400]}")


def post(made, page, form: dict, **data):
    """Post ``form`` of ``page`` with its hidden fields and ``data``; follows redirects."""
    action = urljoin(page.url, unescape(form["action"]))
    response = made.http.post(action, data={**form["fields"], **data})
    assert response.status_code == 200, text_of(response.text)[:600]
    return response


def add_activity(stack, title: str, judgements: dict) -> tuple[str, dict]:
    """Deep link an activity; returns the new link's id and its line item."""
    lms, _response = deep_link(stack, {"title": title, "top_level": "1", "target_level": "1",
                                       "pass_mark_percent": "80", **judgements})
    assert lms.status_code == 200 and "Activity added" in text_of(lms.text)
    state = stack.sandbox.snapshot()
    [link_id] = state["deep_link_responses"][-1]["created_links"]
    lineitem = next(item for item in state["lineitems"] if item.get("resourceLinkId") == link_id)
    assert lineitem["scoreMaximum"] == 1
    return link_id, lineitem


def level_one_answers(stack, page, judgements: dict) -> dict:
    """Best answers to level 1's questions and/or a self-rating of 2 on every indicator
    with one complete example linked to all of them."""
    data: dict = {}
    indicators = stack.runtime.content.framework.primary_dimension.level(1).indicators
    if "knowledge_check" in judgements:
        for item in items_of(stack.runtime):
            data.update(best_fields(item))
    fields = form_values(page.text, "level-form")
    if "ev" in fields:
        ev = fields["ev"]
        data.update({f"ev-{ev}-situation": "Clinic letters were going out late.",
                     f"ev-{ev}-action": "I mapped the steps with the admin team.",
                     f"ev-{ev}-outcome": "Letters now go out within two days.",
                     f"ev-{ev}-ind": [i.identifier for i in indicators]})
    if "self_assessment" in judgements:
        data.update({"sr-" + i.identifier: "2" for i in indicators})
    return data


def review_of(made, level_page):
    """The learner's review page (the level page's "Review and submit" link)."""
    href = re.search(r'href="([^"]*/learner/attempts/\d+/review[^"]*)"', level_page.text)
    assert href, text_of(level_page.text)[:600]
    review = made.http.get(urljoin(level_page.url, unescape(href.group(1))))
    assert review.status_code == 200 and "Submit my attempt" in text_of(review.text)
    return review


def submit(made, review_page):
    """Confirm and submit on the learner's review page; returns the result page."""
    result = post(made, review_page, form_by(review_page, action="/submit"), confirm="1",
                  version=form_values(review_page.text)["version"])
    assert "/result" in result.url
    return result


def deliver(stack) -> None:
    """Send every queued grade to the sandbox (as the worker would)."""
    for _ in range(20):
        if not deliver_due(stack.runtime, "test", 50).claimed:
            return
    raise AssertionError("grades still being claimed after 20 rounds")


def gradebook(stack, lineitem: dict) -> dict | None:
    return stack.sandbox.snapshot()["results"].get(lineitem["id"], {}).get(LEARNER)


def review_page(stack, link_id: str):
    """The educator launches the link, lands on the dashboard and opens the review."""
    educator, dashboard = launch(stack, EDUCATOR, link_id)
    assert LEARNER_NAME in text_of(dashboard.text)
    href = re.search(r'href="([^"]*/educator/attempts/\d+/review[^"]*)"', dashboard.text)
    assert href, text_of(dashboard.text)[:600]
    page = educator.http.get(urljoin(dashboard.url, unescape(href.group(1))))
    assert page.status_code == 200 and "/review" in page.url
    return educator, page


def ratings(stack, value: str) -> dict:
    indicators = stack.runtime.content.framework.primary_dimension.level(1).indicators
    return {f"rating-{i.identifier}": value for i in indicators}


@pytest.mark.parametrize("judgements", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_deep_link_attempt_review_and_the_level_in_the_gradebook(stack, judgements, request):
    title = f"Judgements {request.node.callspec.id}"
    link_id, lineitem = add_activity(stack, title, judgements)
    reviewed = "review_required" in judgements

    # The learner launches the new link, answers level 1 and submits.
    learner, start_page = launch(stack, LEARNER, link_id)
    assert title in text_of(start_page.text)
    level = post(learner, start_page, form_by(start_page, action="/learner/attempts"))
    assert "/levels/1" in level.url
    saved = post(learner, level, form_by(level, form_id="level-form"),
                 **level_one_answers(stack, level, judgements))
    assert "Saved." in text_of(saved.text)
    result = submit(learner, review_of(learner, saved))

    if reviewed:
        assert "Waiting for your reviewer" in text_of(result.text)
        deliver(stack)
        pending = gradebook(stack, lineitem)
        assert pending is not None, stack.sandbox.snapshot()["score_rejections"]
        assert pending["gradingProgress"] == "PendingManual"
        assert pending["activityProgress"] == "Submitted"
        assert pending.get("resultScore") is None

        # The educator returns it with a comment.
        educator, page = review_page(stack, link_id)
        assert LEARNER_NAME in text_of(page.text)
        back = post(educator, page, form_by(page, form_id="review-form"), action="return",
                    general_comment="Add what changed for patients.", **ratings(stack, "1"))
        assert "went back to the learner for more evidence" in text_of(back.text)

        # The learner sees the comment and resubmits.
        learner, start_page = launch(stack, LEARNER, link_id)
        text = text_of(start_page.text)
        assert "returned your attempt" in text and "Update your attempt" in text
        update = re.search(r'<a class="button" href="([^"]*)">Update your attempt',
                           start_page.text)
        level = learner.http.get(urljoin(start_page.url, unescape(update.group(1))))
        assert "/levels/1" in level.url
        assert "Add what changed for patients." in text_of(level.text)
        result = submit(learner, review_of(learner, level))
        assert "Waiting for your reviewer" in text_of(result.text)

        # The educator rates every indicator 2 and signs off.
        educator, page = review_page(stack, link_id)
        signed = post(educator, page, form_by(page, form_id="review-form"), action="sign_off",
                      general_comment="Well evidenced.", **ratings(stack, "2"))
        assert "Signed off." in text_of(signed.text)
        result = learner.http.get(result.url)

    assert "You achieved Level 1" in text_of(result.text), text_of(result.text)[:800]
    deliver(stack)
    final = gradebook(stack, lineitem)
    assert final is not None, stack.sandbox.snapshot()["score_rejections"]
    assert final["resultScore"] == 1 and final["resultMaximum"] == 1
    assert final["gradingProgress"] == "FullyGraded"
    assert final["activityProgress"] == "Completed"
