"""The AGS score bodies the platform receives, and when a score may be sent."""

from __future__ import annotations

import pytest
from assessment_builders import Clock, add_evidence, answer_items, new_attempt, select, settings_for

from lti_tool.assessments import ScoreToSend, ags_score, evaluate, may_send


def _final_level_2(ksf, ksf_bank, clock, number=1, review=False):
    attempt = new_attempt(settings_for(ksf, review_required=review), clock, number=number)
    for indicator_id in select(ksf, "L1 L2"):
        answer_items(attempt, ksf_bank, indicator_id, ["best"] * 3, clock)
        attempt.set_self_rating(indicator_id, 2, actor="learner-1", at=clock())
    add_evidence(attempt, select(ksf, "L1 L2"), clock)
    return attempt


def _score(attempt, ksf, ksf_bank):
    return ags_score(attempt, evaluate(attempt, ksf, ksf_bank), ksf)


def test_final_score_body(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = _final_level_2(ksf, ksf_bank, clock)
    attempt.submit(actor="learner-1", at=clock())
    assert _score(attempt, ksf, ksf_bank).to_ags() == {
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 2,
        "scoreMaximum": 4,
        "comment": "Level 2 - Contribute to the improvement of services; target level 2 met",
    }


def test_pending_score_body_has_no_score(ksf, ksf_bank) -> None:
    clock = Clock()
    attempt = _final_level_2(ksf, ksf_bank, clock, review=True)
    attempt.submit(actor="learner-1", at=clock())
    assert _score(attempt, ksf, ksf_bank).to_ags() == {
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "comment": "Submitted; awaiting review",
    }


PENDING = ScoreToSend("Submitted", "PendingManual", None, None, "", final=False)
FINAL = ScoreToSend("Completed", "FullyGraded", 2, 4, "", final=True)


@pytest.mark.parametrize(
    ("score", "final_already_sent", "allowed"),
    [(None, False, False), (None, True, False), (PENDING, False, True),
     (PENDING, True, False), (FINAL, False, True), (FINAL, True, True)],
)
def test_may_send(score, final_already_sent, allowed) -> None:
    assert may_send(score, final_already_sent) is allowed


def test_a_second_attempt_never_wipes_the_first_final_grade(ksf, ksf_bank) -> None:
    clock = Clock()
    first = _final_level_2(ksf, ksf_bank, clock)
    first.submit(actor="learner-1", at=clock())
    assert may_send(_score(first, ksf, ksf_bank), final_already_sent=False)

    second = _final_level_2(ksf, ksf_bank, clock, number=2, review=True)
    for indicator_id in select(ksf, "L3"):
        answer_items(second, ksf_bank, indicator_id, ["best"] * 3, clock)
    assert _score(second, ksf, ksf_bank) is None  # a draft sends nothing
    second.submit(actor="learner-1", at=clock())
    pending = _score(second, ksf, ksf_bank)
    assert (pending.activity_progress, pending.final) == ("Submitted", False)
    # Moodle would wipe the first attempt's grade: the outbox must hold this one back.
    assert not may_send(pending, final_already_sent=True)

    second.start_review(actor="mentor", at=clock())
    for indicator_id in select(ksf, "L1 L2 L3"):
        second.rate_indicator(indicator_id, 2, actor="mentor", at=clock())
    second.sign_off(actor="mentor", at=clock())
    final = _score(second, ksf, ksf_bank)
    assert (final.score_given, final.final) == (3, True)
    assert may_send(final, final_already_sent=True)
