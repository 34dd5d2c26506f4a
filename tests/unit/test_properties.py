"""Properties of the rules and the gradebook mapping, over generated judgements and
generated sequences of operations (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from assessment_builders import CONTENT, SYNTHETIC, T0, simple_bank
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lti_tool.assessments import (
    ActivitySettings,
    Attempt,
    AttemptError,
    Evidence,
    ReviewerRating,
    ags_score,
    evaluate,
    load_bank,
    load_framework,
    may_send,
    may_start_attempt,
    parse_answer,
    score_item,
)

FRAMEWORK = load_framework(CONTENT / "framework.json")
BANK = simple_bank(FRAMEWORK)
DIMENSION = FRAMEWORK.primary_dimension
INDICATORS = DIMENSION.indicators
POINTS = {"best": 2, "near": 1, "poor": 0}
OPTIONS = ["poor", "near", "best"]  # in increasing order of score


@st.composite
def activity_settings(draw) -> ActivitySettings:
    counts = draw(
        st.tuples(st.booleans(), st.booleans(), st.booleans()).filter(any)
    )
    top = draw(st.integers(1, DIMENSION.top_level))
    return ActivitySettings(
        dimension_id=DIMENSION.identifier,
        top_level=top,
        target_level=draw(st.integers(1, top)),
        knowledge_check=counts[0],
        self_assessment=counts[1],
        review_required=counts[2],
        # 50 and 100 put some indicators exactly on the pass mark (3 or 6 of 6).
        pass_mark_percent=draw(st.sampled_from([50, 70, 100]) | st.integers(1, 100)),
    )


ANSWERS = list(itertools.product([None, *OPTIONS], repeat=3))
PASSING_ANSWERS = [a for a in ANSWERS if sum(POINTS.get(x, 0) for x in a if x) >= 5]
RATINGS = [None, 0, 1, 2]

# One indicator's judgements: its three answers (None = unanswered), self-rating, whether
# a complete evidence entry supports it, reviewer rating. Most are drawn "good" (what
# meets the indicator under any settings, give or take the pass mark) and some nearly
# good, so that whole levels are often met, or missed by one judgement.
any_judgement = st.tuples(
    st.sampled_from(ANSWERS), st.sampled_from(RATINGS), st.booleans(), st.sampled_from(RATINGS)
)
good_judgement = st.tuples(
    st.sampled_from(PASSING_ANSWERS), st.just(2), st.just(True), st.just(2)
)
near_good_judgement = st.tuples(
    st.sampled_from(PASSING_ANSWERS), st.sampled_from(RATINGS), st.booleans(),
    st.sampled_from(RATINGS),
)
judgement = st.one_of(good_judgement, good_judgement, good_judgement, near_good_judgement,
                      any_judgement)
judgements = st.lists(judgement, min_size=len(INDICATORS), max_size=len(INDICATORS))


def build(settings: ActivitySettings, marks) -> Attempt:
    """An attempt holding these judgements (set directly: the rules do not care how)."""
    attempt = Attempt(framework_version="1", bank_version="1", settings=settings)
    for indicator, (answers, self_rating, evidence, review) in zip(INDICATORS, marks,
                                                                   strict=True):
        for item, option in zip(BANK.items_for(indicator.identifier), answers, strict=True):
            if option is not None:
                attempt.answers[item.identifier] = parse_answer(item, option)
        if self_rating is not None:
            attempt.self_ratings[indicator.identifier] = self_rating
        if evidence:
            attempt.evidence[indicator.code] = Evidence(
                indicator.code, "A situation.", "What I did.", "The outcome.",
                (indicator.identifier,),
            )
        if review is not None:
            attempt.reviewer_ratings[indicator.identifier] = ReviewerRating(review)
    return attempt


def met_by_definition(settings: ActivitySettings, mark) -> bool:
    """DESIGN.md's indicator-met rule, restated from the text."""
    answers, self_rating, evidence, review = mark
    points = sum(POINTS[a] for a in answers if a is not None)
    if settings.knowledge_check and points * 100 < settings.pass_mark_percent * 6:
        return False
    if settings.review_required:
        return review == 2
    if settings.self_assessment:
        return self_rating == 2 and evidence
    return True


@settings(max_examples=200, deadline=None)
@given(activity_settings(), judgements)
def test_level_is_the_highest_with_every_lower_level_met(settings_, marks) -> None:
    level = evaluate(build(settings_, marks), FRAMEWORK, BANK).level_achieved
    met = {i.identifier: met_by_definition(settings_, m)
           for i, m in zip(INDICATORS, marks, strict=True)}

    def level_met(n: int) -> bool:
        return all(met[i.identifier] for i in DIMENSION.level(n).indicators)

    assert 0 <= level <= settings_.top_level
    assert all(level_met(n) for n in range(1, level + 1))
    assert level == settings_.top_level or not level_met(level + 1)


def _raise_one(marks, index: int, what: int):
    """The same judgements with one of them raised (a better answer, a higher rating,
    evidence added), or None when that judgement is already at its highest."""
    answers, self_rating, evidence, review = marks[index]
    if what < 3:
        current = answers[what]
        position = -1 if current is None else OPTIONS.index(current)
        if position == len(OPTIONS) - 1:
            return None
        answers = tuple(OPTIONS[position + 1] if n == what else a
                        for n, a in enumerate(answers))
    elif what == 3:
        if self_rating == 2:
            return None
        self_rating = 0 if self_rating is None else self_rating + 1
    elif what == 4:
        if evidence:
            return None
        evidence = True
    else:
        if review == 2:
            return None
        review = 0 if review is None else review + 1
    raised = list(marks)
    raised[index] = (answers, self_rating, evidence, review)
    return raised


@settings(max_examples=150, deadline=None)
@given(activity_settings(), judgements, st.integers(0, len(INDICATORS) - 1),
       st.integers(0, 5))
def test_raising_one_judgement_never_lowers_the_level(settings_, marks, index, what) -> None:
    raised = _raise_one(marks, index, what)
    if raised is None:
        return
    before = evaluate(build(settings_, marks), FRAMEWORK, BANK).level_achieved
    after = evaluate(build(settings_, raised), FRAMEWORK, BANK).level_achieved
    assert after >= before


@settings(max_examples=75, deadline=None)
@given(activity_settings(), judgements, st.one_of(st.none(), st.integers(0, 4)))
def test_final_scores_stay_within_0_and_the_maximum(settings_, marks, override) -> None:
    attempt = build(settings_, marks)
    attempt.submit(actor="learner", at=T0)
    if settings_.review_required:
        attempt.start_review(actor="mentor", at=T0)
        attempt.sign_off(actor="mentor", at=T0)
    if override is not None and override <= settings_.top_level:
        attempt.override_level(override, "Panel decision", by="educator", at=T0)
    score = ags_score(attempt, evaluate(attempt, FRAMEWORK, BANK), FRAMEWORK)
    assert score is not None and score.final
    assert score.score_maximum == settings_.top_level
    assert 0 <= score.score_given <= score.score_maximum


SYNTHETIC_FRAMEWORK = load_framework(SYNTHETIC / "framework.json")
SYNTHETIC_ITEMS = load_bank(SYNTHETIC / "bank.json", SYNTHETIC_FRAMEWORK).items


def _key_answer(item):
    """The answer the item's key calls best."""
    if item.format == "rank":
        return [o.identifier for o in sorted(item.options, key=lambda o: o.key_rank)]
    if item.format == "rate_each":
        return {o.identifier: o.key_rating for o in item.options}
    best = [o.identifier for o in sorted(item.options, key=lambda o: -o.score)]
    return best[0] if item.format == "single_best" else best[:2]


@st.composite
def item_and_answer(draw):
    item = draw(st.sampled_from(SYNTHETIC_ITEMS))
    ids = list(item.option_ids)
    raw = {
        "single_best": lambda: draw(st.sampled_from(ids)),
        "choose_two": lambda: draw(st.permutations(ids))[:2],
        "rank": lambda: draw(st.permutations(ids)),
        "rate_each": lambda: {o: draw(st.integers(1, 4)) for o in ids},
    }[item.format]()
    return item, raw


@settings(max_examples=200, deadline=None)
@given(item_and_answer())
def test_item_scores_stay_within_0_and_the_maximum_that_the_key_earns(case) -> None:
    item, raw = case
    score = score_item(item, parse_answer(item, raw))
    assert 0 <= score.score <= item.maximum
    assert score_item(item, parse_answer(item, _key_answer(item))).score == item.maximum


class GradebookMachine(RuleBasedStateMachine):
    """A learner's attempts on one line item, driven by any sequence of operations; after
    each one the outbox sends the attempt's score when ``may_send`` allows it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.sent: list = []  # scores delivered to the line item, in order
        self.final_sent = False
        self.attempt: Attempt | None = None
        self.was_final = False
        self.answers_at_submission: dict | None = None
        self.activity = ActivitySettings(
            dimension_id=DIMENSION.identifier, top_level=3, target_level=2,
            knowledge_check=True, self_assessment=True, review_required=True,
        )

    def tick(self):
        self.now += timedelta(seconds=1)
        return self.now

    @rule(review=st.booleans())
    def start_attempt(self, review: bool) -> None:
        if not may_start_attempt(self.attempt, self.activity):
            return
        settings_ = ActivitySettings(**{**self.activity.__dict__, "review_required": review})
        number = 1 if self.attempt is None else self.attempt.number + 1
        self.attempt, _ = Attempt.start(framework_version="1", bank_version="1",
                                        settings=settings_, actor="learner", at=self.tick(),
                                        number=number)
        self.was_final = False

    def _do(self, operation, *args, **kwargs) -> None:
        assert self.attempt is not None
        before = self.attempt.to_dict()
        try:
            operation(*args, **kwargs)
        except AttemptError:
            # A refused operation changes nothing.
            assert self.attempt.to_dict() == before
            return
        score = ags_score(self.attempt, evaluate(self.attempt, FRAMEWORK, BANK), FRAMEWORK)
        # Within one attempt, once final, the mapping itself only ever gives final scores.
        if self.was_final:
            assert score is not None and score.final
        self.was_final = self.was_final or self.attempt.is_final
        if may_send(score, self.final_sent):
            self.sent.append(score)
            self.final_sent = self.final_sent or score.final

    @precondition(lambda self: self.attempt is not None)
    @rule(index=st.integers(0, len(INDICATORS) - 1), option=st.sampled_from(OPTIONS))
    def answer(self, index: int, option: str) -> None:
        item = BANK.items_for(INDICATORS[index].identifier)[0]
        self._do(self.attempt.record_answer, item, parse_answer(item, option),
                 actor="learner", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule(index=st.integers(0, len(INDICATORS) - 1), rating=st.integers(0, 2))
    def self_rate(self, index: int, rating: int) -> None:
        self._do(self.attempt.set_self_rating, INDICATORS[index].identifier, rating,
                 actor="learner", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule(index=st.integers(0, len(INDICATORS) - 1))
    def evidence(self, index: int) -> None:
        indicator = INDICATORS[index]
        self._do(self.attempt.save_evidence,
                 Evidence(indicator.code, "Situation.", "Action.", "Outcome.",
                          (indicator.identifier,)),
                 actor="learner", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule()
    def submit(self) -> None:
        self._do(self.attempt.submit, actor="learner", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule()
    def start_review(self) -> None:
        self._do(self.attempt.start_review, actor="mentor", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule(index=st.integers(0, len(INDICATORS) - 1), rating=st.integers(0, 2))
    def rate(self, index: int, rating: int) -> None:
        self._do(self.attempt.rate_indicator, INDICATORS[index].identifier, rating,
                 actor="mentor", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule()
    def return_to_learner(self) -> None:
        self._do(self.attempt.return_to_learner, actor="mentor", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule()
    def sign_off(self) -> None:
        self._do(self.attempt.sign_off, actor="mentor", at=self.tick())

    @precondition(lambda self: self.attempt is not None)
    @rule(level=st.integers(0, 3))
    def override(self, level: int) -> None:
        self._do(self.attempt.override_level, level, "Panel decision", by="educator",
                 at=self.tick())

    @invariant()
    def answers_never_change_after_the_first_submission(self) -> None:
        if self.attempt is None or self.attempt.submitted_at is None:
            self.answers_at_submission = None
            return
        if self.answers_at_submission is None:
            self.answers_at_submission = dict(self.attempt.answers)
        assert self.attempt.answers == self.answers_at_submission

    @invariant()
    def only_final_attempts_are_overridden(self) -> None:
        assert self.attempt is None or self.attempt.override is None or self.attempt.is_final

    @invariant()
    def no_non_final_after_a_final(self) -> None:
        finals = [n for n, s in enumerate(self.sent) if s.final]
        if finals:
            assert all(s.final for s in self.sent[finals[0]:])

    @invariant()
    def the_gradebook_holds_the_latest_final_level(self) -> None:
        if self.attempt is not None and self.attempt.is_final:
            latest = evaluate(self.attempt, FRAMEWORK, BANK).level_achieved
            assert self.sent and self.sent[-1].final
            assert self.sent[-1].score_given == latest


GradebookMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
TestGradebook = GradebookMachine.TestCase
