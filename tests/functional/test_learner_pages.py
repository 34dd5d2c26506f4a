"""Learner pages through the test client: start, level pages, saving with and without
JavaScript, drafts, stale versions, size limits, patient details, review, submit, result,
record, returned attempts and access to other learners' attempts.

Launch sessions are arranged directly (tests/functional/conftest.py); the OIDC flow is
exercised in test_deep_linking_flow.py.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool import assessments
from lti_tool.assessments import ItemFormat
from lti_tool.persistence import models
from lti_tool.services import attempts
from tests.functional.conftest import form_values, text_of

KNOWLEDGE_ONLY = {"knowledge_check": True, "self_assessment": False, "review_required": False,
                  "top_level": 1, "target_level": 1}
SELF_ONLY = {"knowledge_check": False, "self_assessment": True, "review_required": False,
             "top_level": 2, "target_level": 1}
NHS_NUMBER = "943 476 5919"  # valid modulus 11 check digit


@pytest.fixture
def learner_setup(world, course):
    """A course whose link's activity is set per test with ``learner_setup(**settings)``; returns
    (activity, learner launch session id)."""

    def arrange(**settings):
        row = world.db.get(models.Activity, course.activity.id)
        values = dict(row.settings)
        values.update(settings)
        row.settings = values
        ls = world.launch(course.learners[0], course.context, course.link, "learner")
        world.commit()
        return row, ls

    return arrange


def start(pages, ls) -> tuple[int, str]:
    response = pages.post("/learner/attempts", ls)
    assert response.status_code == 303, response.text
    match = re.search(r"/learner/attempts/(\d+)/levels/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1)), response.headers["Location"]


def level_path(attempt_id, number=1):
    return f"/learner/attempts/{attempt_id}/levels/{number}"


def page_form(pages, ls, attempt_id, number=1):
    page = pages.get(level_path(attempt_id, number), ls)
    assert page.status_code == 200, page.text[:500]
    return page, form_values(page.text, "level-form")


def items_of(runtime, number=1):
    content = runtime.content
    level = content.framework.primary_dimension.level(number)
    bank = content.bank_for(content.framework.primary_dimension.identifier)
    return [item for i in level.indicators for item in bank.items_for(i.identifier)]


def best_fields(item) -> dict:
    name = "q-" + item.identifier
    if item.format is ItemFormat.SINGLE_BEST:
        return {name: max(item.options, key=lambda o: o.score or 0).identifier}
    if item.format is ItemFormat.CHOOSE_TWO:
        return {name: [o.identifier for o in sorted(item.options, key=lambda o: -(o.score or 0))[:2]]}
    if item.format is ItemFormat.RANK:
        return {f"{name}-rank-{o.identifier}": str(o.key_rank) for o in item.options}
    return {f"{name}-rate-{o.identifier}": str(o.key_rating) for o in item.options}


def stored(world, attempt_id) -> models.Attempt:
    world.db.expire_all()
    return world.db.get(models.Attempt, attempt_id)


def test_start_page_says_what_how_and_how_long(pages, learner_setup):
    _activity, ls = learner_setup(top_level=3, target_level=2, knowledge_check=True,
                          self_assessment=True, review_required=True)
    page = pages.get("/learner/", ls)
    text = text_of(page.text)
    assert page.status_code == 200
    assert "Level 1 : Make changes in own practice" in text or "Level 1: Make changes" in text
    assert "Level 3" in text and "Level 4" not in text
    assert "Your target is level 2" in text
    assert "Questions about workplace situations (45 in all)" in text
    assert "Your self-assessment" in text and "A reviewer" in text
    # 45 questions x 1.5 min + 14 indicators x 5 min = 137.5, rounded up to 5 minutes.
    assert "About 2 hours 20 minutes" in text
    assert "Start the assessment" in text


def test_a_level_page_shows_each_question_format_accessibly(pages, learner_setup, runtime):
    _activity, ls = learner_setup(**KNOWLEDGE_ONLY)
    attempt_id, _ = start(pages, ls)
    page, _fields = page_form(pages, ls, attempt_id)
    html = page.text
    items = items_of(runtime)
    rank = next(i for i in items if i.format is ItemFormat.RANK)
    rate = next(i for i in items if i.format is ItemFormat.RATE_EACH)
    two = next(i for i in items if i.format is ItemFormat.CHOOSE_TWO)
    single = next(i for i in items if i.format is ItemFormat.SINGLE_BEST)
    assert f'type="radio" id="q-{single.identifier.replace(".", "-")}-' in html
    assert f'type="checkbox" id="q-{two.identifier.replace(".", "-")}-' in html
    # Ranking with select boxes (keyboard friendly), one per option, positions 1..n.
    for option in rank.options:
        assert f'name="q-{rank.identifier}-rank-{option.identifier}"' in html
    assert "1 (most appropriate)" in html
    # Rate each: radios 1..4 per option, each in its own fieldset with the option as legend.
    assert html.count(f'name="q-{rate.identifier}-rate-{rate.options[0].identifier}"') == 4
    assert "<legend>" + rate.options[0].text.replace("'", "&#39;") in html
    # Progress: answered/total for the level, in text.
    assert f"0 of {len(items)} done" in text_of(html)


def test_saving_without_javascript_keeps_answers_and_moves_on(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**{**KNOWLEDGE_ONLY, "top_level": 2, "target_level": 2})
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    items = items_of(runtime)
    data = {**fields, "action": "continue"}
    for item in items:
        data.update(best_fields(item))
    response = pages.post(level_path(attempt_id), ls, data)
    assert response.status_code == 303
    assert level_path(attempt_id, 2) in response.headers["Location"]
    row = stored(world, attempt_id)
    assert len(attempts.domain_attempt(row).answers) == len(items)
    page, _ = page_form(pages, ls, attempt_id, 1)
    assert f"{len(items)} of {len(items)} done" in text_of(page.text)
    assert page.text.count(" checked") >= len(items) // 2


def test_autosave_answers_json_with_the_new_version_and_progress(pages, learner_setup, runtime):
    _activity, ls = learner_setup(**KNOWLEDGE_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    item = items_of(runtime)[0]
    response = pages.client.post(
        level_path(attempt_id), query_string={"ls": ls},
        data={**fields, "csrf_token": pages.csrf(ls), "action": "autosave", **best_fields(item)},
        headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["saved"] is True and body["version"] == int(fields["version"]) + 1
    assert body["progress"]["levels"]["1"]["done"] == 1


def test_a_half_finished_ranking_is_kept_and_pointed_out(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**KNOWLEDGE_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    rank = next(i for i in items_of(runtime) if i.format is ItemFormat.RANK)
    half = {f"q-{rank.identifier}-rank-{rank.options[0].identifier}": "1",
            f"q-{rank.identifier}-rank-{rank.options[1].identifier}": "1"}
    response = pages.post(level_path(attempt_id), ls, {**fields, **half, "action": "continue"})
    # Not moved on silently: the page says which question is unfinished, and why.
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Some answers are not finished" in text
    assert f"Give every option a position from 1 to {len(rank.options)}" in text
    assert "Continue to review anyway" in text or "Continue to level" in text
    # What was chosen is kept, on this page and after a reload.
    reloaded, _ = page_form(pages, ls, attempt_id)
    select = re.search(
        rf'(?s)name="q-{re.escape(rank.identifier)}-rank-{rank.options[0].identifier}".*?</select>',
        reloaded.text).group(0)
    assert 'value="1" selected' in select
    assert "Not finished" in reloaded.text
    assert rank.identifier not in attempts.domain_attempt(stored(world, attempt_id)).answers
    # A duplicate position is explained too.
    both = {f"q-{rank.identifier}-rank-{o.identifier}": "1" for o in rank.options}
    _page, fields = page_form(pages, ls, attempt_id)
    again = pages.post(level_path(attempt_id), ls, {**fields, **both, "action": "continue"})
    assert "position 1 is used more than once" in text_of(again.text)


def test_a_stale_page_is_refused_and_keeps_the_learners_text(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, tab_a = page_form(pages, ls, attempt_id)
    _page, tab_b = page_form(pages, ls, attempt_id)
    indicator = runtime.content.framework.primary_dimension.level(1).indicators[0]
    saved = pages.post(level_path(attempt_id), ls,
                       {**tab_a, "sr-" + indicator.identifier: "2", "action": "save"})
    assert saved.status_code == 303
    ev_id = tab_b["ev"]
    words = "Tab B's words about the clinic rota"
    stale = pages.post(level_path(attempt_id), ls, {
        **tab_b, f"ev-{ev_id}-situation": words, f"ev-{ev_id}-ind": indicator.identifier,
        "action": "save"})
    assert stale.status_code == 409
    text = text_of(stale.text)
    assert "Another tab saved newer work" in text and "reload the saved version" in text
    assert words in text  # nothing typed is lost
    row = stored(world, attempt_id)
    assert attempts.domain_attempt(row).self_ratings == {indicator.identifier: 2}
    assert attempts.domain_attempt(row).evidence == {}
    # The page keeps the old version, so plain Save is still refused; overwriting is explicit.
    assert form_values(stale.text, "level-form")["version"] == tab_b["version"]
    overwrite = pages.post(level_path(attempt_id), ls, {
        **tab_b, f"ev-{ev_id}-situation": words, f"ev-{ev_id}-ind": indicator.identifier,
        "action": "overwrite", "current_version": str(row.version)})
    assert overwrite.status_code == 303
    assert words in [e.situation for e in
                     attempts.domain_attempt(stored(world, attempt_id)).evidence.values()]


def test_autosave_of_a_stale_page_answers_409_attempt_stale(pages, learner_setup, runtime):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    indicator = runtime.content.framework.primary_dimension.level(1).indicators[0]
    pages.post(level_path(attempt_id), ls, {**fields, "sr-" + indicator.identifier: "1"})
    response = pages.client.post(
        level_path(attempt_id), query_string={"ls": ls},
        data={**fields, "csrf_token": pages.csrf(ls), "action": "autosave",
              "sr-" + indicator.identifier: "2"},
        headers={"Accept": "application/json"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "attempt_stale"
    assert body["current_version"] == int(fields["version"]) + 1


def test_oversize_evidence_is_refused_with_a_clear_message_and_nothing_lost(
        pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    indicator = runtime.content.framework.primary_dimension.level(1).indicators[0]
    ev_id = fields["ev"]
    long_text = "We reorganised the store room. " * 140  # 4,340 characters
    response = pages.post(level_path(attempt_id), ls, {
        **fields, "sr-" + indicator.identifier: "2",
        f"ev-{ev_id}-situation": long_text, f"ev-{ev_id}-action": "I asked the team.",
        f"ev-{ev_id}-outcome": "Less waste.", f"ev-{ev_id}-ind": indicator.identifier})
    assert response.status_code == 400
    text = text_of(response.text)
    assert "Your work was not saved" in text
    assert f"The situation is {len(long_text):,} characters long; the limit is 4,000" in text \
        or f"is {len(long_text):,} characters long; the limit is 4,000" in text
    assert long_text.strip() in text and "I asked the team." in text
    assert 'value="2" checked' in response.text  # the self-rating is kept on the page too
    assert attempts.domain_attempt(stored(world, attempt_id)).evidence == {}


def test_nhs_number_warning_before_saving(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    indicator = runtime.content.framework.primary_dimension.level(1).indicators[0]
    ev_id = fields["ev"]
    example = {f"ev-{ev_id}-situation": f"Patient {NHS_NUMBER} waited two hours.",
               f"ev-{ev_id}-action": "I changed the booking.",
               f"ev-{ev_id}-outcome": "Waits fell.", f"ev-{ev_id}-ind": indicator.identifier}
    response = pages.post(level_path(attempt_id), ls, {
        **fields, **example, "sr-" + indicator.identifier: "2"})
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Check for patient details before saving" in text
    assert f"“{NHS_NUMBER}” looks like an NHS number" in text
    assert "Save anyway" in text and f"Patient {NHS_NUMBER} waited" in text
    row = stored(world, attempt_id)
    # The example waits for the learner's word; the rest of the page is saved.
    assert attempts.domain_attempt(row).evidence == {}
    assert attempts.domain_attempt(row).self_ratings == {indicator.identifier: 2}
    confirmed = pages.post(level_path(attempt_id), ls, {
        **form_values(response.text, "level-form"), **example,
        "confirm_identifiable": "1"})
    assert confirmed.status_code == 303
    [saved] = attempts.domain_attempt(stored(world, attempt_id)).evidence.values()
    assert NHS_NUMBER in saved.situation
    # An invalid check digit is not an NHS number: no warning.
    assert attempts.identifiable_details("ref 943 476 5918") == []


def test_evidence_is_escaped(pages, learner_setup, runtime):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    indicator = runtime.content.framework.primary_dimension.level(1).indicators[0]
    ev_id = fields["ev"]
    pages.post(level_path(attempt_id), ls, {
        **fields, f"ev-{ev_id}-situation": "<script>alert(1)</script>",
        f"ev-{ev_id}-ind": indicator.identifier})
    page, _ = page_form(pages, ls, attempt_id)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_an_unlinked_example_is_kept_as_a_draft(pages, learner_setup, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    ev_id = fields["ev"]
    pages.post(level_path(attempt_id), ls, {**fields, f"ev-{ev_id}-situation": "Half written"})
    page, _ = page_form(pages, ls, attempt_id)
    assert "Half written" in page.text
    assert "Choose at least one indicator this example shows" in text_of(page.text)


def test_csrf_token_missing_is_refused(pages, learner_setup, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    fields.pop("csrf_token")
    response = pages.post(level_path(attempt_id), ls, fields, csrf=False)
    assert response.status_code == 403
    assert response.headers["X-Error-Code"] == "csrf_failed"
    start_refused = pages.post("/learner/attempts", ls, {}, csrf=False)
    assert start_refused.status_code == 403


def test_a_learner_cannot_open_another_learners_attempt(pages, learner_setup, world, course):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    other_ls = world.launch(course.learners[1], course.context, course.link, "learner")
    world.commit()
    for path in (level_path(attempt_id), f"/learner/attempts/{attempt_id}",
                 f"/learner/attempts/{attempt_id}/review",
                 f"/learner/attempts/{attempt_id}/result",
                 f"/learner/attempts/{attempt_id}/record"):
        response = pages.get(path, other_ls)
        assert response.status_code == 404, path
        assert response.headers["X-Error-Code"] == "attempt_not_found"
    _page, fields = page_form(pages, ls, attempt_id)
    posted = pages.post(level_path(attempt_id), other_ls, {**fields, "csrf_token": pages.csrf(
        other_ls), "ls": other_ls})
    assert posted.status_code == 404
    submitted = pages.post(f"/learner/attempts/{attempt_id}/submit", other_ls,
                           {"confirm": "1", "version": fields["version"]})
    assert submitted.status_code == 404
    # An educator's launch is not a learner's: the learner pages refuse the role.
    educator_ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    assert pages.get(level_path(attempt_id), educator_ls).status_code == 403


def test_review_lists_what_is_missing_and_submit_needs_confirmation(pages, learner_setup, runtime,
                                                                     world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    text = text_of(review.text)
    assert "No self-rating for: C4.L1.1, C4.L1.2, C4.L1.3, C4.L1.4" in text
    assert "No complete example for: C4.L2.1" in text
    version = form_values(review.text)["version"]
    refused = pages.post(f"/learner/attempts/{attempt_id}/submit", ls, {"version": version})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in text_of(refused.text)
    assert stored(world, attempt_id).status == "draft"
    done = pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
                      {"version": version, "confirm": "1"})
    assert done.status_code == 303 and "/result" in done.headers["Location"]
    assert stored(world, attempt_id).status == "final"


def submit_everything(pages, ls, runtime, attempt_id, top_level):
    """Answer every question best, rate 2 and link one example to every indicator."""
    dimension = runtime.content.framework.primary_dimension
    for number in range(1, top_level + 1):
        _page, fields = page_form(pages, ls, attempt_id, number)
        data = dict(fields)
        for item in items_of(runtime, number):
            data.update(best_fields(item))
        if "ev" in fields:
            ev_id = fields["ev"]
            level = dimension.level(number)
            data.update({f"ev-{ev_id}-situation": f"Level {number} situation",
                         f"ev-{ev_id}-action": "I acted", f"ev-{ev_id}-outcome": "It helped",
                         f"ev-{ev_id}-ind": [i.identifier for i in level.indicators]})
            data.update({"sr-" + i.identifier: "2" for i in level.indicators})
        response = pages.post(level_path(attempt_id, number), ls, data)
        assert response.status_code == 303, text_of(response.text)[:500]
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    return pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
                      {"version": form_values(review.text)["version"], "confirm": "1"})


def test_result_shows_level_feedback_chart_and_next_steps(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(knowledge_check=True, self_assessment=False, review_required=False,
                          top_level=2, target_level=2)
    attempt_id, _ = start(pages, ls)
    # Level 1 best, level 2 left unanswered: level 1 achieved, level 2 stands in the way.
    _page, fields = page_form(pages, ls, attempt_id, 1)
    data = dict(fields)
    for item in items_of(runtime, 1):
        data.update(best_fields(item))
    pages.post(level_path(attempt_id, 1), ls, data)
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    assert "question" in text_of(review.text) and "not answered" in text_of(review.text)
    pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
               {"version": form_values(review.text)["version"], "confirm": "1"})
    result = pages.get(f"/learner/attempts/{attempt_id}/result", ls)
    text = text_of(result.text)
    assert "You achieved Level 1 - Make changes in own practice" in text
    assert "Target not met yet" in text
    assert "What stands between you and level 2" in text
    assert "the knowledge-check questions scored below the pass mark" in text
    # The chart: an SVG with bars and the same figures as a table, no script needed.
    assert "<svg" in result.text and 'class="chart-bar complete"' in result.text
    assert "Level 1: Make changes in own practice and offer suggestions for improving services 4 of 4 Yes" in text
    assert "0 of 5 No" in text
    # Feedback on every option of a question the learner answered.
    item = items_of(runtime, 1)[0]
    for option in item.options:
        assert text_of(option.feedback) in text
    assert "You did not answer this question." in text


def test_review_return_resubmit_and_printable_record(pages, learner_setup, runtime, world, course):
    activity, ls = learner_setup(knowledge_check=False, self_assessment=True, review_required=True,
                         top_level=1, target_level=1, new_attempts_allowed=True)
    attempt_id, _ = start(pages, ls)
    response = submit_everything(pages, ls, runtime, attempt_id, 1)
    assert response.status_code == 303
    waiting = text_of(pages.get(f"/learner/attempts/{attempt_id}/result", ls).text)
    assert "Waiting for your reviewer" in waiting
    # The reviewer returns it with comments (through the service, as the educator page does).
    row = stored(world, attempt_id)
    content = runtime.content
    attempts.start_review(world.db, content, row, reviewer=course.instructor)
    first = content.framework.primary_dimension.level(1).indicators[0]
    attempts.save_review(world.db, content, row, row.version,
                         ratings={first.identifier: (1, "Say what changed for patients")},
                         general_comment=None, reviewer=course.instructor)
    attempts.return_to_learner(world.db, content, row, row.version,
                               comment="Please add the outcome for C4.L1.1",
                               reviewer=course.instructor)
    world.commit()
    start_page = text_of(pages.get("/learner/", ls).text)
    assert "Your reviewer returned your attempt" in start_page and "Update your attempt" in start_page
    page, fields = page_form(pages, ls, attempt_id, 1)
    text = text_of(page.text)
    assert "Please add the outcome for C4.L1.1" in text
    assert "Say what changed for patients" in text
    ev_id = next(v for k, v in fields.items() if k == "ev")
    data = {**fields, f"ev-{ev_id}-outcome": "Patients waited 20 minutes less",
            f"ev-{ev_id}-situation": "Level 1 situation", f"ev-{ev_id}-action": "I acted",
            f"ev-{ev_id}-ind": [i.identifier for i in
                                content.framework.primary_dimension.level(1).indicators]}
    assert pages.post(level_path(attempt_id, 1), ls, data).status_code == 303
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    again = pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
                       {"version": form_values(review.text)["version"], "confirm": "1"})
    assert again.status_code == 303
    row = stored(world, attempt_id)
    assert row.status == "submitted"
    attempts.start_review(world.db, content, row, reviewer=course.instructor)
    attempts.save_review(
        world.db, content, row, row.version,
        ratings={i.identifier: (2, "") for i in content.framework.primary_dimension.level(1).indicators},
        general_comment="Well evidenced", reviewer=course.instructor)
    attempts.sign_off(world.db, content, row, row.version, reviewer=course.instructor)
    world.commit()
    result = text_of(pages.get(f"/learner/attempts/{attempt_id}/result", ls).text)
    assert "You achieved Level 1" in result and "Target met" in result
    assert "Signed off by Iris Instructor" in result
    assert "Start a new attempt" in result
    record = pages.get(f"/learner/attempts/{attempt_id}/record", ls)
    record_text = text_of(record.text)
    assert "Competency record" in record_text and "Ada Learner" in record_text
    assert "Patients waited 20 minutes less" in record_text
    assert "Iris Instructor" in record_text and "Well evidenced" in record_text
    assert "data-print" in record.text  # the print button (shown by learner.js)
    # A new attempt after a final one.
    new = pages.post("/learner/attempts", ls)
    assert new.status_code == 303
    rows = world.db.scalars(select(models.Attempt).where(
        models.Attempt.activity_pk == activity.id).order_by(models.Attempt.number)).all()
    assert [r.number for r in rows] == [1, 2]


def test_no_new_attempt_when_the_activity_allows_none(pages, learner_setup, runtime):
    _activity, ls = learner_setup(**{**SELF_ONLY, "new_attempts_allowed": False})
    attempt_id, _ = start(pages, ls)
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
               {"version": form_values(review.text)["version"], "confirm": "1"})
    assert "Start a new attempt" not in text_of(
        pages.get(f"/learner/attempts/{attempt_id}/result", ls).text)
    assert "Start" not in text_of(pages.get("/learner/", ls).text).split("Your attempts")[0] \
        .replace("Started", "")
    refused = pages.post("/learner/attempts", ls)
    assert refused.status_code == 409
    assert refused.headers["X-Error-Code"] == "attempt_not_allowed"


def test_answers_are_shown_locked_after_a_return(pages, learner_setup, runtime, world, course):
    _activity, ls = learner_setup(knowledge_check=True, self_assessment=True, review_required=True,
                          top_level=1, target_level=1)
    attempt_id, _ = start(pages, ls)
    submit_everything(pages, ls, runtime, attempt_id, 1)
    row = stored(world, attempt_id)
    content = runtime.content
    attempts.start_review(world.db, content, row, reviewer=course.instructor)
    attempts.return_to_learner(world.db, content, row, row.version, comment="More please",
                               reviewer=course.instructor)
    world.commit()
    page, _ = page_form(pages, ls, attempt_id, 1)
    item = items_of(runtime)[0]
    assert f'name="q-{item.identifier}"' not in page.text
    assert "answers cannot change after you submit" in text_of(page.text)


def test_a_launch_without_a_course_is_told_to_open_it_from_a_course(pages, world, course):
    ls = world.launch(course.learners[0], None, None, "learner")
    world.commit()
    response = pages.get("/learner/", ls)
    assert response.status_code == 400
    assert response.headers["X-Error-Code"] == "no_activity"


def test_domain_answer_shapes_round_trip(runtime):
    """The page's field shapes parse into the domain's answers (a guard for the helper)."""
    from werkzeug.datastructures import MultiDict

    from lti_tool.web.learner import read_item

    for item in items_of(runtime):
        fields = best_fields(item)
        form = MultiDict([(k, v) for k, vs in fields.items()
                          for v in (vs if isinstance(vs, list) else [vs])])
        kind, raw, message = read_item(form, item)
        assert kind == "complete", (item.identifier, message)
        assert assessments.score_item(item, assessments.parse_answer(item, raw)).score == \
            item.maximum


def test_one_example_supports_indicators_at_several_levels_and_can_be_removed(
        pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    dimension = runtime.content.framework.primary_dimension
    first, second = dimension.level(1).indicators[0], dimension.level(2).indicators[0]
    _page, fields = page_form(pages, ls, attempt_id, 1)
    ev_id = fields["ev"]
    pages.post(level_path(attempt_id, 1), ls, {
        **fields, f"ev-{ev_id}-situation": "Clinic letters were late",
        f"ev-{ev_id}-action": "I mapped the process", f"ev-{ev_id}-outcome": "Two days now",
        f"ev-{ev_id}-ind": [first.identifier, second.identifier]})
    level_2, fields_2 = page_form(pages, ls, attempt_id, 2)
    assert "Clinic letters were late" in level_2.text
    assert "An example you wrote supports this indicator." in text_of(level_2.text)
    progress = text_of(level_2.text)
    assert "1 of 10 done" in progress  # level 2: 5 self-ratings + 5 examples; one example
    removed = pages.post(level_path(attempt_id, 2), ls, {
        **fields_2, "remove_evidence": ev_id,
        f"ev-{ev_id}-situation": "Clinic letters were late",
        f"ev-{ev_id}-action": "I mapped the process", f"ev-{ev_id}-outcome": "Two days now",
        f"ev-{ev_id}-ind": [first.identifier, second.identifier]})
    assert removed.status_code == 303
    row = stored(world, attempt_id)
    assert attempts.domain_attempt(row).evidence == {}
    assert [e.kind for e in attempts.history(world.db, row)][-2:] == [
        "evidence_saved", "evidence_deleted"]


def test_saving_after_a_submission_from_another_tab_keeps_the_text(pages, learner_setup, runtime,
                                                                    world):
    _activity, ls = learner_setup(**SELF_ONLY)
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    review = pages.get(f"/learner/attempts/{attempt_id}/review", ls)
    pages.post(f"/learner/attempts/{attempt_id}/submit", ls,
               {"version": form_values(review.text)["version"], "confirm": "1"})
    ev_id = fields["ev"]
    late = pages.post(level_path(attempt_id), ls, {
        **fields, f"ev-{ev_id}-situation": "Written in the other tab"})
    assert late.status_code == 409
    assert "can no longer change" in text_of(late.text)
    assert "Written in the other tab" in late.text


def test_a_crafted_anchor_or_level_still_saves_the_page(pages, learner_setup, runtime, world):
    _activity, ls = learner_setup(**{**KNOWLEDGE_ONLY, "top_level": 2, "target_level": 2})
    attempt_id, _ = start(pages, ls)
    _page, fields = page_form(pages, ls, attempt_id)
    item = items_of(runtime)[0]
    data = {**fields, **best_fields(item), "return_to": "x\r\nSet-Cookie: a=b"}
    response = pages.post(level_path(attempt_id), ls, data)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#main")
    assert "Set-Cookie" not in response.headers
    assert item.identifier in attempts.domain_attempt(stored(world, attempt_id)).answers

    _page, fields = page_form(pages, ls, attempt_id)
    response = pages.post(level_path(attempt_id), ls, {**fields, "action": "goto-\u00b2"})
    assert response.status_code == 303  # an unknown target falls back to the start page
    assert "/learner/" in response.headers["Location"]
