"""Judgement sets -> level -> AGS score, a table written from DESIGN.md "Assessment model"
and "Gradebook mapping" (not from the code), on the shipped framework: levels of 4, 5, 5
and 5 indicators, and a stand-in bank of three single-best items per indicator (maximum 6
an indicator; at the default 70% pass mark 5 passes and 4 fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from assessment_builders import (
    Clock,
    add_evidence,
    answer_items,
    new_attempt,
    select,
    settings_for,
)

from lti_tool.assessments import ags_score, evaluate

L1 = "Level 1 - Make changes in own practice and offer suggestions for improving services"
L2 = "Level 2 - Contribute to the improvement of services"
L3 = (
    "Level 3 - Appraise, interpret and apply suggestions, recommendations and directives "
    "to improve services"
)
L4 = (
    "Level 4 - Work in partnership with others to develop, take forward and evaluate "
    "direction, policies and strategies"
)
NONE = "No level achieved yet"
FINAL = ("Completed", "FullyGraded")


@dataclass
class Case:
    """One row. Indicator sets use the spec of ``assessment_builders.select``."""

    id: str
    level: int
    score: tuple[str, str, int | None, int | None] | None
    comment: str | None = None
    settings: dict[str, object] = field(default_factory=dict)
    kc_best: str = ""  # items answered best, best, best: 6 of 6
    kc_near: str = ""  # best, best, nearly right: 5 of 6 (83%)
    kc_low: str = ""  # best, best, poor: 4 of 6 (67%)
    self2: str = ""  # self-rated 2 ("consistently")
    self1: str = ""  # self-rated 1 ("partly")
    evidence: str = ""  # one complete evidence entry supporting all of these
    incomplete_evidence: str = ""  # one entry without an outcome
    review2: str = ""  # reviewer rates 2; every other assessed indicator gets 1
    flow: str = "submit"  # draft | submit | in_review | returned | sign_off
    override: tuple[int, str] | None = None
    number: int = 1


REVIEW = {"review_required": True}

CASES = [
    Case("nothing answered", 0, (*FINAL, 0, 4), f"{NONE}; target level 2 not met"),
    Case("everything met", 4, (*FINAL, 4, 4), f"{L4}; target level 2 met",
         kc_best="all", self2="all", evidence="all"),
    Case("one indicator missing at level 1 (self-rated 1)", 0, (*FINAL, 0, 4),
         f"{NONE}; target level 2 not met",
         kc_best="all", self2="all -L1.3", self1="L1.3", evidence="all"),
    Case("one indicator missing at level 1 (knowledge check)", 0, (*FINAL, 0, 4),
         f"{NONE}; target level 2 not met",
         kc_best="all -L1.1", kc_low="L1.1", self2="all", evidence="all"),
    Case("all of level 3 met but one of level 2 missing", 1, (*FINAL, 1, 4),
         f"{L1}; target level 2 not met",
         kc_best="L1 L2 L3 -L2.4", kc_low="L2.4", self2="all", evidence="all"),
    Case("self-rating 2 without evidence is not met", 2, (*FINAL, 2, 4),
         f"{L2}; target level 2 met",
         kc_best="all", self2="all", evidence="all -L3.2"),
    Case("incomplete evidence does not count", 0, (*FINAL, 0, 4),
         f"{NONE}; target level 2 not met",
         kc_best="all", self2="all", incomplete_evidence="all"),
    Case("5 of 6 reaches a 70% pass mark", 4, (*FINAL, 4, 4), f"{L4}; target level 2 met",
         kc_near="all", self2="all", evidence="all"),
    Case("4 of 6 misses a 70% pass mark", 1, (*FINAL, 1, 4), f"{L1}; target level 2 not met",
         kc_near="all -L2.1", kc_low="L2.1", self2="all", evidence="all"),
    Case("4 of 6 reaches a 60% pass mark", 4, (*FINAL, 4, 4), f"{L4}; target level 2 met",
         settings={"pass_mark_percent": 60}, kc_low="all", self2="all", evidence="all"),
    Case("unanswered items score 0", 0, (*FINAL, 0, 4), f"{NONE}; target level 2 not met",
         self2="all", evidence="all"),
    Case("top level 2 of 4", 2, (*FINAL, 2, 2), f"{L2}; target level 2 met",
         settings={"top_level": 2}, kc_best="L1 L2", self2="L1 L2", evidence="L1 L2"),
    Case("top level 3 ignores level 4", 3, (*FINAL, 3, 3), f"{L3}; target level 3 met",
         settings={"top_level": 3, "target_level": 3},
         kc_best="L1 L2 L3", self2="L1 L2 L3", evidence="L1 L2 L3"),
    Case("top level 1, nothing met", 0, (*FINAL, 0, 1), f"{NONE}; target level 1 not met",
         settings={"top_level": 1, "target_level": 1}, kc_best="L2 L3 L4", self2="all",
         evidence="all"),
    Case("target 3 not met at level 2", 2, (*FINAL, 2, 4), f"{L2}; target level 3 not met",
         settings={"target_level": 3}, kc_best="L1 L2", self2="all", evidence="all"),
    Case("knowledge check only", 2, (*FINAL, 2, 4), f"{L2}; target level 2 met",
         settings={"self_assessment": False}, kc_best="L1 L2 L3 -L3.5"),
    Case("self-assessment only", 3, (*FINAL, 3, 4), f"{L3}; target level 2 met",
         settings={"knowledge_check": False}, self2="L1 L2 L3", evidence="all"),
    Case("review required: submitted, awaiting review", 0,
         ("Submitted", "PendingManual", None, None), "Submitted; awaiting review",
         settings=REVIEW, kc_best="all", self2="all", evidence="all"),
    Case("review required: in review", 0,
         ("Submitted", "PendingManual", None, None), "Submitted; awaiting review",
         settings=REVIEW, kc_best="all", self2="all", evidence="all", flow="in_review"),
    Case("review required: returned", 1,
         ("InProgress", "NotReady", None, None), "Returned for more evidence",
         settings=REVIEW, kc_best="all", self2="all", evidence="all", review2="L1",
         flow="returned"),
    Case("signed off: the reviewer decides, the self-rating is advice", 2,
         (*FINAL, 2, 4), f"{L2}; target level 2 met",
         settings=REVIEW, kc_best="all", review2="L1 L2", flow="sign_off"),
    Case("signed off: a reviewer 1 overrules a self-rating 2", 0,
         (*FINAL, 0, 4), f"{NONE}; target level 2 not met",
         settings=REVIEW, kc_best="all", self2="all", evidence="all", review2="all -L1.1",
         flow="sign_off"),
    Case("signed off: the knowledge check still counts", 2,
         (*FINAL, 2, 4), f"{L2}; target level 2 met",
         settings=REVIEW, kc_best="all -L3.1", kc_low="L3.1", review2="all", flow="sign_off"),
    Case("signed off: review only", 3, (*FINAL, 3, 4), f"{L3}; target level 2 met",
         settings={**REVIEW, "knowledge_check": False, "self_assessment": False},
         review2="L1 L2 L3", flow="sign_off"),
    Case("draft sends nothing", 4, None, kc_best="all", self2="all", evidence="all",
         flow="draft"),
    Case("overridden up, with the reason", 3, (*FINAL, 3, 4),
         f"{L3}; target level 2 met; level set by an educator: Observed at appraisal",
         kc_best="L1 L2 L3 -L2.4", kc_low="L2.4", self2="all", evidence="all",
         override=(3, "Observed at appraisal")),
    Case("overridden down to 0", 0, (*FINAL, 0, 4),
         f"{NONE}; target level 2 not met; level set by an educator: Not the learner's own work",
         kc_best="all", self2="all", evidence="all",
         override=(0, "Not the learner's own work")),
    Case("overridden after sign-off", 4, (*FINAL, 4, 4),
         f"{L4}; target level 2 met; level set by an educator: Panel decision",
         settings=REVIEW, kc_best="all", review2="L1", flow="sign_off",
         override=(4, "Panel decision")),
    Case("a second attempt scores like the first", 3, (*FINAL, 3, 4),
         f"{L3}; target level 2 met",
         kc_best="L1 L2 L3", self2="all", evidence="all", number=2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_judgements_give_level_and_score(case: Case, ksf, ksf_bank) -> None:
    clock = Clock()
    settings = settings_for(ksf, **case.settings)
    attempt = new_attempt(settings, clock, number=case.number)
    answers = {"kc_best": ["best"] * 3, "kc_near": ["best", "best", "near"],
               "kc_low": ["best", "best", "poor"]}
    if settings.knowledge_check:
        for name, options in answers.items():
            for indicator_id in select(ksf, getattr(case, name)):
                answer_items(attempt, ksf_bank, indicator_id, options, clock)
    if settings.self_assessment:
        for indicator_id in select(ksf, case.self2):
            attempt.set_self_rating(indicator_id, 2, actor="learner-1", at=clock())
        for indicator_id in select(ksf, case.self1):
            attempt.set_self_rating(indicator_id, 1, actor="learner-1", at=clock())
        if case.evidence:
            add_evidence(attempt, select(ksf, case.evidence), clock)
        if case.incomplete_evidence:
            add_evidence(attempt, select(ksf, case.incomplete_evidence), clock,
                         identifier="ev-2", complete=False)

    if case.flow != "draft":
        attempt.submit(actor="learner-1", at=clock())
    if case.flow in ("in_review", "returned", "sign_off"):
        attempt.start_review(actor="reviewer", at=clock())
    if case.flow in ("returned", "sign_off"):
        rated_2 = set(select(ksf, case.review2))
        for indicator in ksf.primary_dimension.indicators_up_to(settings.top_level):
            rating = 2 if indicator.identifier in rated_2 else 1
            attempt.rate_indicator(indicator.identifier, rating, "seen",
                                   actor="reviewer", at=clock())
    if case.flow == "returned":
        attempt.return_to_learner(actor="reviewer", at=clock())
    if case.flow == "sign_off":
        attempt.sign_off(actor="reviewer", at=clock())
    if case.override is not None:
        attempt.override_level(case.override[0], case.override[1], by="educator", at=clock())

    result = evaluate(attempt, ksf, ksf_bank)
    score = ags_score(attempt, result, ksf)

    assert result.level_achieved == case.level
    if case.score is None:
        assert score is None
        return
    assert score is not None
    sent = (score.activity_progress, score.grading_progress, score.score_given,
            score.score_maximum)
    assert sent == case.score
    assert score.comment == case.comment
    assert score.final == (case.score[:2] == FINAL)
