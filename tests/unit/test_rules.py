"""What the result page shows: each indicator's outcome, the tally per level and what
stands between the learner and the next level; plus the pure rule functions."""

from __future__ import annotations

import pytest
from assessment_builders import Clock, add_evidence, answer_items, new_attempt, select, settings_for

from lti_tool.assessments import evaluate, knowledge_passed, level_achieved, parse_answer
from lti_tool.assessments.rules import (
    KNOWLEDGE_BELOW_PASS_MARK,
    NO_EVIDENCE,
    REVIEW_PENDING,
    SELF_RATING_BELOW_2,
)


@pytest.mark.parametrize(
    ("levels_met", "level"),
    [
        ([], 0),
        ([False, True, True, True], 0),
        ([True, False, True, True], 1),
        ([True, True, False, True], 2),
        ([True, True, True, True], 4),
        ([True, True], 2),
    ],
)
def test_level_rule_is_conjunctive_and_cumulative(levels_met, level) -> None:
    assert level_achieved(levels_met) == level


@pytest.mark.parametrize(
    ("score", "maximum", "pass_mark", "passed"),
    [(7, 10, 70, True), (6, 10, 70, False), (5, 6, 70, True), (4, 6, 70, False),
     (0, 0, 70, False), (1, 1, 100, True), (0, 6, 1, False)],
)
def test_knowledge_pass_mark(score, maximum, pass_mark, passed) -> None:
    assert knowledge_passed(score, maximum, pass_mark) is passed


def _attempt(ksf, ksf_bank, clock, *, kc="", self2="", evidence="", **settings):
    attempt = new_attempt(settings_for(ksf, **settings), clock)
    for indicator_id in select(ksf, kc):
        answer_items(attempt, ksf_bank, indicator_id, ["best"] * 3, clock)
    for indicator_id in select(ksf, self2):
        attempt.set_self_rating(indicator_id, 2, actor="learner-1", at=clock())
    if evidence:
        add_evidence(attempt, select(ksf, evidence), clock)
    return attempt


def test_gaps_are_the_unmet_indicators_of_the_next_level(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = _attempt(ksf, ksf_bank, clock, kc="L1 L2 L3 -L2.4", self2="all", evidence="all")
    attempt.submit(actor="learner-1", at=clock())
    result = evaluate(attempt, ksf, ksf_bank)
    assert result.level_achieved == 1
    assert [i.code for i in result.gaps_to_next_level] == ["C4.L2.4"]
    assert [(t.level.number, t.met, t.total) for t in result.met_per_level] == [
        (1, 4, 4), (2, 4, 5), (3, 5, 5), (4, 0, 5)
    ]
    outcome = result.outcome(select(ksf, "L2.4")[0])
    assert not outcome.met
    assert outcome.unmet_reasons == (KNOWLEDGE_BELOW_PASS_MARK,)
    assert (outcome.knowledge.score, outcome.knowledge.maximum) == (0, 6)
    assert (outcome.self_rating, len(outcome.evidence)) == (2, 1)


def test_gaps_after_an_override_include_unmet_lower_levels(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = _attempt(ksf, ksf_bank, clock, kc="L1 L2 L3 -L2.4", self2="all", evidence="all")
    attempt.submit(actor="learner-1", at=clock())
    attempt.override_level(3, "Observed in practice", by="educator", at=clock())
    result = evaluate(attempt, ksf, ksf_bank)
    assert (result.level_achieved, result.computed_level) == (3, 1)
    assert result.level.code == "C4.L3"
    assert [i.code for i in result.gaps_to_next_level] == [
        "C4.L2.4", "C4.L4.1", "C4.L4.2", "C4.L4.3", "C4.L4.4", "C4.L4.5"
    ]


def test_no_gaps_at_the_top_level(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = _attempt(ksf, ksf_bank, clock, kc="L1 L2", self2="L1 L2", evidence="L1 L2",
                       top_level=2)
    result = evaluate(attempt, ksf, ksf_bank)
    assert (result.level_achieved, result.top_level, result.gaps_to_next_level) == (2, 2, ())
    assert len(result.outcomes) == 9  # levels 1 and 2 only


def test_reasons_for_an_unmet_indicator(ksf, ksf_bank) -> None:
    clock = Clock()
    nothing = evaluate(_attempt(ksf, ksf_bank, clock), ksf, ksf_bank)
    assert nothing.outcomes[0].unmet_reasons == (
        KNOWLEDGE_BELOW_PASS_MARK, SELF_RATING_BELOW_2, NO_EVIDENCE
    )
    review = evaluate(_attempt(ksf, ksf_bank, clock, kc="all", review_required=True),
                      ksf, ksf_bank)
    assert review.outcomes[0].unmet_reasons == (REVIEW_PENDING,)
    assert review.outcomes[0].knowledge.passed


def test_partial_credit_feedback_reaches_the_outcome(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = new_attempt(settings_for(ksf), clock)
    indicator = select(ksf, "L1.1")[0]
    item = ksf_bank.items_for(indicator)[0]
    attempt.record_answer(item, parse_answer(item, "near"), actor="learner-1", at=clock())
    knowledge = evaluate(attempt, ksf, ksf_bank).outcome(indicator).knowledge
    assert (knowledge.score, knowledge.maximum, knowledge.passed) == (1, 6, False)
    first = knowledge.items[0]
    assert (first.item_id, first.score, first.answered) == (item.identifier, 1, True)
    assert [f.chosen for f in first.feedback] == [False, True, False]
    assert knowledge.items[1].answered is False


def test_every_format_on_the_synthetic_framework(synthetic, synthetic_bank) -> None:
    """The engine works on any framework of the shape: a second dimension of three
    levels, with items of every format answered as the key says."""
    teamwork = synthetic.dimensions[1]
    settings = settings_for(synthetic, dimension_id=teamwork.identifier, top_level=3,
                            target_level=3, self_assessment=False, pass_mark_percent=100)
    clock = Clock()
    attempt = new_attempt(settings, clock)
    perfect = {
        "single_best": lambda item: max(item.options, key=lambda o: o.score).identifier,
        "choose_two": lambda item: [o.identifier for o in sorted(
            item.options, key=lambda o: o.score, reverse=True)[:2]],
        "rank": lambda item: [o.identifier for o in sorted(item.options,
                                                          key=lambda o: o.key_rank)],
        "rate_each": lambda item: {o.identifier: o.key_rating for o in item.options},
    }
    for indicator in teamwork.indicators:
        if indicator.level_number == 3 and indicator.number == 2:
            continue  # one indicator of level 3 left unanswered
        for item in synthetic_bank.items_for(indicator.identifier):
            answer = parse_answer(item, perfect[item.format](item))
            attempt.record_answer(item, answer, actor="learner-1", at=clock())
    attempt.submit(actor="learner-1", at=clock())
    result = evaluate(attempt, synthetic, synthetic_bank)
    assert result.level_achieved == 2
    assert result.level.title == "Level 2 - Support the team"
    assert [i.code for i in result.gaps_to_next_level] == ["S2.L3.2"]
    assert not result.target_met
