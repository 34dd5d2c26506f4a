"""The assessment rules: per-indicator judgement, the indicator-met rule and the level rule.

From DESIGN.md ("Assessment model"):

- **Knowledge check** (when it counts): an indicator passes when the sum of its items'
  scores reaches the pass mark, a percentage of the sum of those items' maxima.
- **Indicator met**: the knowledge check passed (if it counts); and, with review required,
  the reviewer rated it 2 (the self-rating is advice for the reviewer); without review,
  the self-rating is 2 with at least one (complete) evidence entry for it (if
  self-assessment counts).
- **Level rule** (conjunctive and cumulative): level L is met when every indicator of L
  is met; the level achieved is the highest L within the top level assessed such that
  levels 1..L are all met, else 0. An educator's override replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .attempt import Attempt, Evidence, Override, ReviewerRating
from .framework import Framework, Indicator, Level
from .questions import ItemScore, QuestionBank, score_item
from .settings import ActivitySettings

# Why an indicator is not met (stable codes for pages and exports).
KNOWLEDGE_BELOW_PASS_MARK = "knowledge_below_pass_mark"
SELF_RATING_BELOW_2 = "self_rating_below_2"
NO_EVIDENCE = "no_evidence"
REVIEW_PENDING = "review_pending"
REVIEWER_RATING_BELOW_2 = "reviewer_rating_below_2"


def knowledge_passed(score: int, maximum: int, pass_mark_percent: int) -> bool:
    """Whether ``score`` reaches ``pass_mark_percent`` % of ``maximum`` (exact integer
    arithmetic, so 70% of 10 needs 7, not 6.999...). No items (maximum 0) never pass."""
    return maximum > 0 and score * 100 >= pass_mark_percent * maximum


def indicator_met(
    settings: ActivitySettings,
    *,
    knowledge_passed: bool,
    self_rating: int | None,
    has_evidence: bool,
    reviewer_rating: int | None,
) -> bool:
    """The indicator-met rule for one indicator's judgements under these settings."""
    if settings.knowledge_check and not knowledge_passed:
        return False
    if settings.review_required:
        return reviewer_rating == 2
    if settings.self_assessment:
        return self_rating == 2 and has_evidence
    return True


def level_achieved(levels_met: Sequence[bool]) -> int:
    """The highest L such that levels 1..L are all met (``levels_met[0]`` is level 1,
    up to the top level assessed), else 0."""
    achieved = 0
    for met in levels_met:
        if not met:
            break
        achieved += 1
    return achieved


@dataclass(frozen=True)
class KnowledgeOutcome:
    """An indicator's knowledge check: its items' scores against the pass mark."""

    score: int
    maximum: int
    pass_mark_percent: int
    passed: bool
    items: tuple[ItemScore, ...]


@dataclass(frozen=True)
class IndicatorOutcome:
    """Every judgement of one indicator and whether it is met. ``knowledge`` is ``None``
    when the knowledge check does not count; ``unmet_reasons`` lists the codes above."""

    indicator: Indicator
    met: bool
    knowledge: KnowledgeOutcome | None
    self_rating: int | None
    evidence: tuple[Evidence, ...]
    review: ReviewerRating | None
    unmet_reasons: tuple[str, ...]


@dataclass(frozen=True)
class LevelTally:
    """How many of a level's indicators are met."""

    level: Level
    met: int
    total: int

    @property
    def complete(self) -> bool:
        """Whether every indicator of the level is met."""
        return self.met == self.total


@dataclass(frozen=True)
class AttemptResult:
    """What an attempt achieves under its pinned settings.

    ``level_achieved`` is the level that counts (the override's when overridden);
    ``computed_level`` the one the rules give. ``level`` is the achieved :class:`Level`
    (``None`` for 0). ``gaps_to_next_level`` are the unmet indicators of the next level and
    of any level below it (empty at the top level assessed).
    """

    level_achieved: int
    computed_level: int
    level: Level | None
    top_level: int
    target_level: int
    target_met: bool
    outcomes: tuple[IndicatorOutcome, ...]
    met_per_level: tuple[LevelTally, ...]
    gaps_to_next_level: tuple[Indicator, ...]
    overridden: Override | None

    def outcome(self, indicator_id: str) -> IndicatorOutcome:
        """The outcome of one indicator; ``KeyError`` when it is not assessed."""
        for outcome in self.outcomes:
            if outcome.indicator.identifier == indicator_id:
                return outcome
        raise KeyError(indicator_id)


def _judge(
    indicator: Indicator,
    attempt: Attempt,
    bank: QuestionBank,
    evidence: Mapping[str, tuple[Evidence, ...]],
) -> IndicatorOutcome:
    settings = attempt.settings
    reasons: list[str] = []
    knowledge = None
    if settings.knowledge_check:
        scores = tuple(
            score_item(item, attempt.answers.get(item.identifier))
            for item in bank.items_for(indicator.identifier)
        )
        total, maximum = sum(s.score for s in scores), sum(s.maximum for s in scores)
        knowledge = KnowledgeOutcome(
            score=total,
            maximum=maximum,
            pass_mark_percent=settings.pass_mark_percent,
            passed=knowledge_passed(total, maximum, settings.pass_mark_percent),
            items=scores,
        )
        if not knowledge.passed:
            reasons.append(KNOWLEDGE_BELOW_PASS_MARK)
    self_rating = attempt.self_ratings.get(indicator.identifier)
    own_evidence = evidence.get(indicator.identifier, ())
    review = attempt.reviewer_ratings.get(indicator.identifier)
    if settings.review_required:
        if review is None:
            reasons.append(REVIEW_PENDING)
        elif review.rating != 2:
            reasons.append(REVIEWER_RATING_BELOW_2)
    elif settings.self_assessment:
        if self_rating != 2:
            reasons.append(SELF_RATING_BELOW_2)
        if not own_evidence:
            reasons.append(NO_EVIDENCE)
    met = indicator_met(
        settings,
        knowledge_passed=knowledge is not None and knowledge.passed,
        self_rating=self_rating,
        has_evidence=bool(own_evidence),
        reviewer_rating=review.rating if review else None,
    )
    return IndicatorOutcome(
        indicator=indicator,
        met=met,
        knowledge=knowledge,
        self_rating=self_rating,
        evidence=own_evidence,
        review=review,
        unmet_reasons=tuple(reasons),
    )


def evaluate(attempt: Attempt, framework: Framework, bank: QuestionBank) -> AttemptResult:
    """Judge every indicator of levels 1..top level of the attempt's dimension and work
    out the level achieved, the target and what stands before the next level."""
    settings = attempt.settings
    dimension = framework.dimension(settings.dimension_id)
    top = min(settings.top_level, dimension.top_level)
    evidence: dict[str, list[Evidence]] = {}
    for entry in attempt.evidence.values():
        if entry.is_complete:
            for indicator_id in dict.fromkeys(entry.indicator_ids):
                evidence.setdefault(indicator_id, []).append(entry)
    frozen_evidence = {k: tuple(v) for k, v in evidence.items()}

    outcomes = tuple(
        _judge(indicator, attempt, bank, frozen_evidence)
        for indicator in dimension.indicators_up_to(top)
    )
    tallies = tuple(
        LevelTally(
            level=level,
            met=sum(o.met for o in outcomes if o.indicator.level_number == level.number),
            total=len(level.indicators),
        )
        for level in dimension.levels[:top]
    )
    computed = level_achieved([t.complete for t in tallies])
    achieved = attempt.override.level if attempt.override is not None else computed
    next_level = achieved + 1
    gaps = () if achieved >= top else tuple(
        o.indicator for o in outcomes if not o.met and o.indicator.level_number <= next_level
    )
    return AttemptResult(
        level_achieved=achieved,
        computed_level=computed,
        level=dimension.level(achieved) if achieved else None,
        top_level=top,
        target_level=settings.target_level,
        target_met=achieved >= settings.target_level,
        outcomes=outcomes,
        met_per_level=tallies,
        gaps_to_next_level=gaps,
        overridden=attempt.override,
    )
