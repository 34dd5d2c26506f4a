"""The attempt's lifecycle (DESIGN.md "Attempt lifecycle"): transitions, what each state
locks, history events, override, and storage."""

from __future__ import annotations

import json

import pytest
from assessment_builders import Clock, add_evidence, answer_items, new_attempt, settings_for

from lti_tool.assessments import (
    Attempt,
    AttemptStatus,
    IllegalTransition,
    InvalidInput,
    Locked,
    may_start_attempt,
    parse_answer,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _first(ksf):
    return ksf.primary_dimension.level(1).indicators[0].identifier


def test_start_pins_versions_and_settings(ksf, clock) -> None:
    settings = settings_for(ksf)
    attempt, events = Attempt.start(framework_version="1.0.0", bank_version="2.1.0",
                                    settings=settings, actor="learner-1", at=clock.now)
    assert (attempt.status, attempt.framework_version, attempt.bank_version,
            attempt.settings) == (AttemptStatus.DRAFT, "1.0.0", "2.1.0", settings)
    assert [(e.kind, e.actor, e.at) for e in events] == [("started", "learner-1", clock.now)]


def test_submit_without_review_is_final_at_once(ksf, clock) -> None:
    attempt = new_attempt(settings_for(ksf), clock)
    at = clock()
    events = attempt.submit(actor="learner-1", at=at)
    assert attempt.status is AttemptStatus.FINAL
    assert (attempt.submitted_at, attempt.finalised_at) == (at, at)
    assert [e.kind for e in events] == ["submitted", "finalised"]


def test_review_path_and_history(ksf, clock) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    indicator = _first(ksf)
    kinds = []
    kinds += attempt.submit(actor="learner-1", at=clock())
    assert attempt.status is AttemptStatus.SUBMITTED
    kinds += attempt.start_review(actor="mentor", at=clock())
    assert attempt.status is AttemptStatus.IN_REVIEW
    kinds += attempt.rate_indicator(indicator, 1, "More evidence please", actor="mentor",
                                    at=clock())
    kinds += attempt.return_to_learner(actor="mentor", at=clock(), comment="See level 1")
    assert attempt.status is AttemptStatus.RETURNED
    kinds += attempt.submit(actor="learner-1", at=clock())
    kinds += attempt.start_review(actor="mentor", at=clock())
    kinds += attempt.rate_indicator(indicator, 2, "Good", actor="mentor", at=clock())
    signed_at = clock()
    kinds += attempt.sign_off(actor="mentor", at=signed_at)
    assert attempt.status is AttemptStatus.FINAL
    assert (attempt.signed_off_by, attempt.finalised_at) == ("mentor", signed_at)
    assert attempt.reviewer_comment == "See level 1"
    assert attempt.reviewer_ratings[indicator].rating == 2
    assert [e.kind for e in kinds] == [
        "submitted", "review_started", "indicator_rated", "returned", "submitted",
        "review_started", "indicator_rated", "signed_off", "finalised",
    ]
    assert kinds[2].detail == {"indicator_id": indicator, "rating": 1,
                               "comment": "More evidence please"}


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ([], "start_review"),
        ([], "sign_off"),
        ([], "return_to_learner"),
        (["submit"], "submit"),
        (["submit"], "sign_off"),
        (["submit", "start_review"], "submit"),
        (["submit", "start_review"], "start_review"),
        (["submit", "start_review", "sign_off"], "submit"),
        (["submit", "start_review", "sign_off"], "return_to_learner"),
        (["submit", "start_review", "return_to_learner"], "sign_off"),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(ksf, clock, path, operation) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    for step in path:
        getattr(attempt, step)(actor="someone", at=clock())
    before = attempt.to_dict()
    with pytest.raises(IllegalTransition) as caught:
        getattr(attempt, operation)(actor="someone", at=clock())
    assert caught.value.code == "illegal_transition"
    assert attempt.to_dict() == before


def test_reviewer_cannot_rate_outside_review(ksf, clock) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    with pytest.raises(IllegalTransition):
        attempt.rate_indicator(_first(ksf), 2, actor="mentor", at=clock())


def test_answers_lock_at_first_submission_and_stay_locked_after_return(
    ksf, ksf_bank, clock
) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    indicator = _first(ksf)
    item = ksf_bank.items_for(indicator)[0]
    answer_items(attempt, ksf_bank, indicator, ["poor", "best", "best"], clock)
    answer_items(attempt, ksf_bank, indicator, ["best", "best", "best"], clock)  # drafts change
    attempt.submit(actor="learner-1", at=clock())
    attempt.start_review(actor="mentor", at=clock())
    attempt.return_to_learner(actor="mentor", at=clock())
    with pytest.raises(Locked) as caught:
        attempt.record_answer(item, parse_answer(item, "poor"), actor="learner-1", at=clock())
    assert caught.value.code == "answers_locked"
    assert attempt.answers[item.identifier].choices == ("best",)
    # ... while self-ratings and evidence reopen.
    attempt.set_self_rating(indicator, 2, actor="learner-1", at=clock())
    add_evidence(attempt, [indicator], clock)
    assert attempt.self_ratings[indicator] == 2 and "ev-1" in attempt.evidence


@pytest.mark.parametrize("path", [["submit"], ["submit", "start_review"]])
def test_self_assessment_locked_while_submitted(ksf, clock, path) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    for step in path:
        getattr(attempt, step)(actor="someone", at=clock())
    with pytest.raises(Locked):
        attempt.set_self_rating(_first(ksf), 2, actor="learner-1", at=clock())
    with pytest.raises(Locked):
        add_evidence(attempt, [_first(ksf)], clock)


def test_judgements_that_do_not_count_are_refused(ksf, ksf_bank, clock) -> None:
    no_self = new_attempt(settings_for(ksf, self_assessment=False), clock)
    with pytest.raises(InvalidInput) as caught:
        no_self.set_self_rating(_first(ksf), 2, actor="learner-1", at=clock())
    assert caught.value.code == "self_assessment_off"
    no_kc = new_attempt(settings_for(ksf, knowledge_check=False), clock)
    item = ksf_bank.items[0]
    with pytest.raises(InvalidInput) as caught:
        no_kc.record_answer(item, parse_answer(item, "best"), actor="learner-1", at=clock())
    assert caught.value.code == "knowledge_check_off"


@pytest.mark.parametrize("rating", [-1, 3, True, "2"])
def test_ratings_are_0_1_2(ksf, clock, rating) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock)
    with pytest.raises(InvalidInput) as caught:
        attempt.set_self_rating(_first(ksf), rating, actor="learner-1", at=clock())
    assert caught.value.code == "rating_out_of_range"


def test_evidence_needs_an_indicator_and_may_support_several(ksf, clock) -> None:
    attempt = new_attempt(settings_for(ksf), clock)
    with pytest.raises(InvalidInput) as caught:
        add_evidence(attempt, [], clock)
    assert caught.value.code == "evidence_without_indicator"
    ids = [i.identifier for i in ksf.primary_dimension.level(1).indicators]
    add_evidence(attempt, ids, clock)
    assert attempt.evidence["ev-1"].indicator_ids == tuple(ids)
    attempt.delete_evidence("ev-1", actor="learner-1", at=clock())
    assert attempt.evidence == {}


def test_override_only_final_with_reason_and_level_in_range(ksf, clock) -> None:
    attempt = new_attempt(settings_for(ksf, top_level=3), clock)
    with pytest.raises(IllegalTransition):
        attempt.override_level(2, "Seen at work", by="educator", at=clock())
    attempt.submit(actor="learner-1", at=clock())
    with pytest.raises(InvalidInput) as caught:
        attempt.override_level(2, "  ", by="educator", at=clock())
    assert caught.value.code == "reason_required"
    with pytest.raises(InvalidInput) as caught:
        attempt.override_level(4, "Above the top level", by="educator", at=clock())
    assert caught.value.code == "level_out_of_range"
    at = clock()
    events = attempt.override_level(2, "Seen at work", by="educator", at=at)
    assert (attempt.override.level, attempt.override.reason, attempt.override.by,
            attempt.override.at) == (2, "Seen at work", "educator", at)
    assert [(e.kind, e.actor, e.detail) for e in events] == [
        ("overridden", "educator", {"level": 2, "reason": "Seen at work"})
    ]


def test_storage_round_trip(ksf, ksf_bank, clock) -> None:
    attempt = new_attempt(settings_for(ksf, review_required=True), clock, number=2)
    indicator = _first(ksf)
    answer_items(attempt, ksf_bank, indicator, ["best", "near", "poor"], clock)
    attempt.set_self_rating(indicator, 1, actor="learner-1", at=clock())
    add_evidence(attempt, [indicator], clock)
    attempt.submit(actor="learner-1", at=clock())
    attempt.start_review(actor="mentor", at=clock())
    attempt.rate_indicator(indicator, 2, "Clear example", actor="mentor", at=clock())
    attempt.set_reviewer_comment("Well done", actor="mentor", at=clock())
    attempt.sign_off(actor="mentor", at=clock())
    attempt.override_level(1, "Panel", by="educator", at=clock())
    stored = json.loads(json.dumps(attempt.to_dict()))
    assert Attempt.from_dict(stored) == attempt


def test_new_attempts_only_after_a_final_one_and_when_allowed(ksf, clock) -> None:
    settings = settings_for(ksf)
    assert may_start_attempt(None, settings)
    attempt = new_attempt(settings, clock)
    assert not may_start_attempt(attempt, settings)
    attempt.submit(actor="learner-1", at=clock())
    assert may_start_attempt(attempt, settings)
    assert not may_start_attempt(attempt, settings_for(ksf, new_attempts_allowed=False))
