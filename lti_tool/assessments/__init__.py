"""The assessment domain: framework, question banks, activity settings, attempts, the
level rule and the gradebook mapping. Pure Python: no Flask, SQL or HTTP, and nothing of
``lti_tool`` outside this package (tests/unit/test_layering.py checks it).

Public API (everything below is importable from ``lti_tool.assessments``)

Content (``content.py``, ``framework.py``, ``questions.py``, ``schemas.py``)
    load_framework(path) -> Framework                    CASE 1.1 package; ContentError
    load_bank(path, framework) -> QuestionBank           bank file; ContentError
    load_content(content_dir) -> Content                 framework.json + assessments/*.json
    Content(framework, banks).bank_for(dimension_id) -> QuestionBank   (KeyError if none)
    export_case(framework) -> dict                       loads back to an equal Framework
    ContentError(file, path, reason)                     str: "<file>: <$.json.path>: <reason>"
    Framework(identifier, title, version, dimensions, rules: ToolRules, ...)
        .primary_dimension, .dimension(id), .level(id), .indicator(id) (KeyError if unknown),
        .has_indicator(id), .indicators
    Dimension(identifier, code, title, levels)  .level(n), .top_level, .indicators,
        .indicators_up_to(top_level)
    Level(identifier, code, number, title, short_title, indicators)
        title = "Level 2 - Contribute to the improvement of services", short_title without
        the "Level N - " prefix
    Indicator(identifier, code, statement, level_number, dimension_id, number, level_id)
    ToolRules(schema_version, level_rule, rating_scale, default_pass_mark_percent)
        .rating_label(value)

Questions (``questions.py``)
    QuestionBank(identifier, version, framework_id, items, title, language, dimension_ids)
        .item(id), .items_for(indicator_id)
    Item(identifier, indicator_id, format: ItemFormat, setting, scenario, prompt, options)
        .maximum, .option(id), .option_ids
    Option(identifier, text, feedback, score | key_rank | key_rating)
    ItemFormat: SINGLE_BEST, CHOOSE_TWO, RANK, RATE_EACH ("single_best", ...)
    parse_answer(item, raw) -> Answer                    raises InvalidAnswer(code, message)
        raw: single_best "b"; choose_two ["a", "c"]; rank ["b", "a", "c"] (best first);
        rate_each {"a": 3, ...} (1..4, digit strings accepted)
    Answer(format, choices, ratings).to_raw()            inverse of parse_answer
    score_item(item, answer | None) -> ItemScore(item_id, score, maximum, answered, feedback)
        feedback: OptionFeedback(option_id, feedback, points, chosen, learner_rank,
        learner_rating) per option

Settings (``settings.py``)
    ActivitySettings(dimension_id, top_level, target_level, knowledge_check,
        self_assessment, review_required, pass_mark_percent=70, new_attempts_allowed=True,
        title="")
    default_settings(framework, dimension_id=None) -> ActivitySettings
    SCORING_FIELDS: frozenset of field names locked once an attempt is submitted
    ActivitySettingsSchema(framework=fw).load(form) -> ActivitySettings
        (marshmallow ValidationError keyed by field; "judgements" for "none counts")
    settings_to_dict(settings) / settings_from_dict(data)

Attempts (``attempt.py``)
    AttemptStatus: DRAFT, SUBMITTED, IN_REVIEW, RETURNED, FINAL
    Attempt.start(framework_version=, bank_version=, settings=, actor=, at=, number=1)
        -> (Attempt, [AttemptEvent])
    Each operation takes keyword ``actor``/``by`` and ``at`` and returns [AttemptEvent]:
        record_answer(item, answer)           draft and never submitted (answers stay locked
                                              after a return)
        set_self_rating(indicator_id, 0|1|2|None), save_evidence(Evidence),
        delete_evidence(evidence_id)          draft or returned
        submit()                              draft|returned -> submitted, or final when
                                              the activity requires no review
        start_review()                        submitted -> in_review
        rate_indicator(indicator_id, 0|1|2, comment), set_reviewer_comment(text)  in review
        return_to_learner(comment=None)       in_review -> returned
        sign_off()                            in_review -> final (signed_off_by = actor)
        override_level(level, reason, by=, at=)   final only; 0..top level; reason required
    Attempt.to_dict() / Attempt.from_dict(data)          JSON storage, round-trips
    may_start_attempt(latest_attempt | None, settings) -> bool
    AttemptError(code, message) > IllegalTransition, Locked, InvalidInput
    AttemptEvent(kind, actor, at, detail), Evidence(identifier, situation, action, outcome,
        indicator_ids), ReviewerRating(rating, comment), Override(level, reason, by, at)

Rules (``rules.py``)
    evaluate(attempt, framework, bank) -> AttemptResult(level_achieved, computed_level,
        level: Level | None, top_level, target_level, target_met, outcomes, met_per_level,
        gaps_to_next_level, overridden)
        outcomes: IndicatorOutcome(indicator, met, knowledge: KnowledgeOutcome | None,
        self_rating, evidence, review, unmet_reasons); met_per_level: LevelTally(level,
        met, total)
    indicator_met(settings, knowledge_passed=, self_rating=, has_evidence=,
        reviewer_rating=) -> bool;  knowledge_passed(score, maximum, pass_mark_percent)
    level_achieved(levels_met: Sequence[bool]) -> int

Gradebook (``scores.py``)
    ags_score(attempt, result, framework=None) -> ScoreToSend | None (None for a draft)
    ScoreToSend(activity_progress, grading_progress, score_given, score_maximum, comment,
        final).to_ags() -> dict of AGS fields (without userId and timestamp)
    may_send(score, final_already_sent) -> bool
"""

from __future__ import annotations

from .attempt import (
    Attempt,
    AttemptError,
    AttemptEvent,
    AttemptStatus,
    Evidence,
    IllegalTransition,
    InvalidInput,
    Locked,
    Override,
    ReviewerRating,
    may_start_attempt,
)
from .content import (
    Content,
    ContentError,
    export_case,
    load_bank,
    load_content,
    load_framework,
)
from .framework import Dimension, Framework, Indicator, Level, RatingPoint, ToolRules
from .questions import (
    Answer,
    InvalidAnswer,
    Item,
    ItemFormat,
    ItemScore,
    Option,
    OptionFeedback,
    QuestionBank,
    parse_answer,
    score_item,
)
from .rules import (
    AttemptResult,
    IndicatorOutcome,
    KnowledgeOutcome,
    LevelTally,
    evaluate,
    indicator_met,
    knowledge_passed,
    level_achieved,
)
from .scores import ScoreToSend, ags_score, level_comment, may_send
from .settings import (
    SCORING_FIELDS,
    ActivitySettings,
    ActivitySettingsSchema,
    default_settings,
    settings_from_dict,
    settings_to_dict,
)

__all__ = [
    "SCORING_FIELDS",
    "ActivitySettings",
    "ActivitySettingsSchema",
    "Answer",
    "Attempt",
    "AttemptError",
    "AttemptEvent",
    "AttemptResult",
    "AttemptStatus",
    "Content",
    "ContentError",
    "Dimension",
    "Evidence",
    "Framework",
    "IllegalTransition",
    "Indicator",
    "IndicatorOutcome",
    "InvalidAnswer",
    "InvalidInput",
    "Item",
    "ItemFormat",
    "ItemScore",
    "KnowledgeOutcome",
    "Level",
    "LevelTally",
    "Locked",
    "Option",
    "OptionFeedback",
    "Override",
    "QuestionBank",
    "RatingPoint",
    "ReviewerRating",
    "ScoreToSend",
    "ToolRules",
    "ags_score",
    "default_settings",
    "evaluate",
    "export_case",
    "indicator_met",
    "knowledge_passed",
    "level_achieved",
    "level_comment",
    "load_bank",
    "load_content",
    "load_framework",
    "may_send",
    "may_start_attempt",
    "parse_answer",
    "score_item",
    "settings_from_dict",
    "settings_to_dict",
]
