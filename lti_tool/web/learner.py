"""Learner pages: start, one page per level, review and submit, result, printable record.

Every view finds the launch's activity (registration + course + resource link) and only
ever reaches the launching user's own attempts of it: any other attempt id is a 404.

Saving works with and without JavaScript. Without it, each level page has "Save" and
"Save and continue" buttons (post, then redirect). With it, ``learner.js`` posts the same
form every few seconds after a change and before a page change, asking for JSON. The
page carries the attempt's version: a stale one is refused (409 ``attempt_stale``) and
the learner's text stays on the page, with a way to reload or to save over the other
tab's work on purpose. Nothing a learner typed is silently dropped: half-finished
answers and examples not yet linked to an indicator are kept as drafts and pointed out.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from lti_tool import assessments
from lti_tool.assessments import AttemptStatus, ItemFormat
from lti_tool.persistence import models
from lti_tool.runtime import current_runtime
from lti_tool.services import activities, attempts
from lti_tool.services.attempts import (
    EVIDENCE_FIELD_MAX,
    AttemptServiceError,
    EvidenceInput,
    StaleAttempt,
)
from lti_tool.web import abort_with, db, error_response, wants_json
from lti_tool.web.security import launch_view, url_for_launch

bp = Blueprint("learner", __name__, url_prefix="/learner")

#: Minutes a learner needs, on average, for one situational-judgement question and for
#: one indicator's self-rating and example (used for the start page's estimate).
MINUTES_PER_ITEM = 1.5
MINUTES_PER_INDICATOR = 5

RATE_LABELS = {1: "Very ineffective", 2: "Ineffective", 3: "Effective", 4: "Very effective"}
EVIDENCE_PARTS = (
    ("situation", "The situation", "Where were you and what was happening? Leave out "
                                   "anything that could identify a patient or colleague."),
    ("action", "What I did", "What did you do, say or suggest, and why?"),
    ("outcome", "The outcome", "What changed as a result, and what did you learn?"),
)
UNMET_REASONS = {
    "knowledge_below_pass_mark": "the knowledge-check questions scored below the pass mark",
    "self_rating_below_2": "your self-rating is not yet “Consistently”",
    "no_evidence": "no complete example (situation, what you did and outcome) is linked "
                   "to it",
    "review_pending": "a reviewer has not rated it yet",
    "reviewer_rating_below_2": "the reviewer did not rate it “Consistently”",
}


# -- access ----------------------------------------------------------------------------------


def _content() -> assessments.Content:
    return current_runtime().content


def _activity() -> models.Activity:
    if g.launch.context is None or g.launch.resource_link is None:
        abort_with(400, "no_activity",
                   "This assessment opens from an activity link in a course. Open it from "
                   "your course.")
    try:
        activity = activities.activity_for_launch(db(), _content(), g.launch)
    except activities.ActivityServiceError as error:
        abort_with(409, error.code, error.message)
    if activity is None:
        abort_with(400, "no_activity", "Open this assessment from your course.")
    return activity


def _own_attempt(attempt_id: int) -> tuple[models.Activity, models.Attempt]:
    """The launch's activity and the user's attempt ``attempt_id`` of it, or 404."""
    activity = _activity()
    row = db().get(models.Attempt, attempt_id)
    if row is None or row.user_pk != g.launch.user.id or row.activity_pk != activity.id:
        abort_with(404, "attempt_not_found", "There is no such attempt of yours here.")
    return activity, row


# -- view models -----------------------------------------------------------------------------


@dataclass
class ItemView:
    """One question as the page shows it."""

    item: assessments.Item
    number: int
    values: dict[str, Any]  # {"chosen": [...]} | {"ranks": {opt: "n"}} | {"ratings": {...}}
    answered: bool  # a complete answer is saved
    incomplete: str | None = None  # why what is on the page is not a full answer
    locked: bool = False

    @property
    def anchor(self) -> str:
        return "q-" + _safe(self.item.identifier)

    @property
    def field(self) -> str:
        return "q-" + self.item.identifier


@dataclass
class EvidenceView:
    """One example on the page."""

    identifier: str
    situation: str = ""
    action: str = ""
    outcome: str = ""
    indicator_ids: tuple[str, ...] = ()
    is_new: bool = False
    is_draft: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[attempts.IdentifiableDetail] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "ev-" + _safe(self.identifier)

    @property
    def is_complete(self) -> bool:
        return all(s.strip() for s in (self.situation, self.action, self.outcome))


@dataclass
class IndicatorView:
    indicator: assessments.Indicator
    items: list[ItemView]
    self_rating: int | None
    review: assessments.ReviewerRating | None
    has_evidence: bool


@dataclass
class LevelProgress:
    level: assessments.Level
    done: int
    total: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


def _safe(identifier: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in identifier)


def _values_of(answer: assessments.Answer | None) -> dict[str, Any]:
    if answer is None:
        return {}
    if answer.format in (ItemFormat.SINGLE_BEST, ItemFormat.CHOOSE_TWO):
        return {"chosen": list(answer.choices)}
    if answer.format is ItemFormat.RANK:
        return {"ranks": {o: str(i + 1) for i, o in enumerate(answer.choices)}}
    return {"ratings": {o: str(r) for o, r in answer.ratings}}


def read_item(form: Mapping[str, Any], item: assessments.Item) -> tuple[str, Any, str | None]:
    """Classify one question's form fields: ``("empty", None, None)``, ``("complete", raw,
    None)`` or ``("incomplete", form values, message for the learner)``."""
    name = "q-" + item.identifier
    options = item.option_ids
    if item.format is ItemFormat.SINGLE_BEST:
        value = form.get(name) or ""
        if not value:
            return "empty", None, None
        return _checked(item, value, {"chosen": [value]})
    if item.format is ItemFormat.CHOOSE_TWO:
        chosen = [v for v in form.getlist(name) if v]
        if not chosen:
            return "empty", None, None
        if len(chosen) != 2:
            return "incomplete", {"chosen": chosen}, (
                f"Choose exactly two options: you have chosen {len(chosen)}.")
        return _checked(item, chosen, {"chosen": chosen})
    if item.format is ItemFormat.RANK:
        ranks = {o: (form.get(f"{name}-rank-{o}") or "").strip() for o in options}
        filled = {o: r for o, r in ranks.items() if r}
        if not filled:
            return "empty", None, None
        values = {"ranks": filled}
        positions = [str(n) for n in range(1, len(options) + 1)]
        if len(filled) < len(options):
            missing = len(options) - len(filled)
            return "incomplete", values, (
                f"Give every option a position from 1 to {len(options)}: "
                f"{missing} still to place.")
        used = list(filled.values())
        repeated = sorted({p for p in used if used.count(p) > 1})
        if repeated or sorted(used) != positions:
            detail = (f"position {' and '.join(repeated)} is used more than once"
                      if repeated else "use each position once")
            return "incomplete", values, (
                f"Each position from 1 to {len(options)} can be used once: {detail}.")
        order = sorted(options, key=lambda o: int(filled[o]))
        return _checked(item, order, values)
    ratings = {o: (form.get(f"{name}-rate-{o}") or "").strip() for o in options}
    filled = {o: r for o, r in ratings.items() if r}
    if not filled:
        return "empty", None, None
    values = {"ratings": filled}
    if len(filled) < len(options):
        missing = len(options) - len(filled)
        return "incomplete", values, f"Rate every option: {missing} still to rate."
    return _checked(item, dict(filled), values)


def _checked(item: assessments.Item, raw: Any, values: dict[str, Any]):
    try:
        assessments.parse_answer(item, raw)
    except assessments.InvalidAnswer as error:
        return "incomplete", values, error.message
    return "complete", raw, None


def _level_items(attempt: assessments.Attempt, level: assessments.Level) -> list[Any]:
    if not attempt.settings.knowledge_check:
        return []
    bank = _content().bank_for(attempt.settings.dimension_id)
    return [item for indicator in level.indicators for item in bank.items_for(
        indicator.identifier)]


def _dimension(attempt: assessments.Attempt) -> assessments.Dimension:
    return _content().framework.dimension(attempt.settings.dimension_id)


def _levels(attempt: assessments.Attempt) -> list[assessments.Level]:
    dimension = _dimension(attempt)
    return list(dimension.levels[: min(attempt.settings.top_level, dimension.top_level)])


def _evidence_for(attempt: assessments.Attempt) -> dict[str, list[assessments.Evidence]]:
    by_indicator: dict[str, list[assessments.Evidence]] = {}
    for entry in attempt.evidence.values():
        if entry.is_complete:
            for indicator_id in entry.indicator_ids:
                by_indicator.setdefault(indicator_id, []).append(entry)
    return by_indicator


def progress_of(attempt: assessments.Attempt) -> list[LevelProgress]:
    """Tasks done per level: questions answered, indicators self-rated, indicators with
    a complete example (the last two when self-assessment counts)."""
    evidence = _evidence_for(attempt)
    out = []
    for level in _levels(attempt):
        items = _level_items(attempt, level)
        done = sum(1 for item in items if item.identifier in attempt.answers)
        total = len(items)
        if attempt.settings.self_assessment:
            for indicator in level.indicators:
                total += 2
                done += indicator.identifier in attempt.self_ratings
                done += bool(evidence.get(indicator.identifier))
        out.append(LevelProgress(level, done, total))
    return out


def _progress_json(attempt: assessments.Attempt) -> dict[str, Any]:
    levels = progress_of(attempt)
    return {
        "levels": {str(p.level.number): {"done": p.done, "total": p.total} for p in levels},
        "done": sum(p.done for p in levels), "total": sum(p.total for p in levels),
    }


def estimate_minutes(settings: assessments.ActivitySettings) -> int:
    """About how long the assessment takes, rounded up to 5 minutes."""
    content = _content()
    dimension = content.framework.dimension(settings.dimension_id)
    indicators = dimension.indicators_up_to(settings.top_level)
    minutes = 0.0
    if settings.knowledge_check:
        bank = content.bank_for(settings.dimension_id)
        minutes += MINUTES_PER_ITEM * sum(len(bank.items_for(i.identifier))
                                          for i in indicators)
    if settings.self_assessment:
        minutes += MINUTES_PER_INDICATOR * len(indicators)
    return max(5, int(math.ceil(minutes / 5.0)) * 5)


def duration_text(minutes: int) -> str:
    """"about 1 hour 45 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest:
        parts.append(f"{rest} minutes")
    return "about " + " ".join(parts)


@dataclass
class PageInput:
    """What a level page's form sent, read once."""

    answers: dict[str, Any] = field(default_factory=dict)
    incomplete: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    incomplete_messages: dict[str, str] = field(default_factory=dict)
    item_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    self_ratings: dict[str, int] = field(default_factory=dict)
    evidence: list[EvidenceInput] = field(default_factory=list)
    new_evidence_ids: set[str] = field(default_factory=set)
    remove_evidence: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # field name -> message


def read_page(form: MultiDict, attempt: assessments.Attempt,
              level: assessments.Level) -> PageInput:
    """Read a level page's form (answers, self-ratings, examples) into a PageInput."""
    page = PageInput()
    if not attempt.answers_locked:
        for item in _level_items(attempt, level):
            kind, value, message = read_item(form, item)
            if kind == "complete":
                page.answers[item.identifier] = value
                page.incomplete[item.identifier] = None
                page.item_values[item.identifier] = _values_of(
                    assessments.parse_answer(item, value))
            elif kind == "incomplete":
                page.incomplete[item.identifier] = value
                page.incomplete_messages[item.identifier] = message or ""
                page.item_values[item.identifier] = value
            else:
                page.incomplete[item.identifier] = None
                page.item_values[item.identifier] = {}
    if attempt.settings.self_assessment:
        for indicator in level.indicators:
            value = form.get("sr-" + indicator.identifier)
            if value in ("0", "1", "2"):
                page.self_ratings[indicator.identifier] = int(value)
        assessed = {i.identifier for i in _dimension(attempt).indicators_up_to(
            attempt.settings.top_level)}
        for evidence_id in dict.fromkeys(form.getlist("ev")):
            if not evidence_id or len(evidence_id) > 64:
                continue
            prefix = f"ev-{evidence_id}-"
            entry = EvidenceInput(
                identifier=evidence_id,
                situation=form.get(prefix + "situation", ""),
                action=form.get(prefix + "action", ""),
                outcome=form.get(prefix + "outcome", ""),
                indicator_ids=tuple(i for i in dict.fromkeys(form.getlist(prefix + "ind"))
                                    if i in assessed),
            )
            if form.get(prefix + "new"):
                page.new_evidence_ids.add(evidence_id)
            for part, label, _hint in EVIDENCE_PARTS:
                length = len(getattr(entry, part))
                if length > EVIDENCE_FIELD_MAX:
                    page.errors[prefix + part] = (
                        f"{label} is {length:,} characters long; the limit is "
                        f"{EVIDENCE_FIELD_MAX:,}. Shorten it by {length - EVIDENCE_FIELD_MAX:,} "
                        "characters.")
            page.evidence.append(entry)
        removed = form.get("remove_evidence")
        if removed:
            page.remove_evidence.append(removed)
    return page


def _page_context(
    row: models.Attempt, attempt: assessments.Attempt, level: assessments.Level,
    page: PageInput | None = None, *, warnings: dict[str, list] | None = None,
) -> dict[str, Any]:
    """Everything the level template needs; ``page`` (a form just posted) wins over what
    is stored, so nothing typed is lost when the page is shown again."""
    drafts = attempts.drafts_of(row)
    bank = _content().bank_for(attempt.settings.dimension_id)
    levels = _levels(attempt)
    assessed = _dimension(attempt).indicators_up_to(attempt.settings.top_level)
    evidence_by = _evidence_for(attempt)
    number = sum(len(_level_items(attempt, lv)) for lv in levels if lv.number < level.number)
    indicator_views = []
    for indicator in level.indicators:
        items = []
        if attempt.settings.knowledge_check:
            for item in bank.items_for(indicator.identifier):
                number += 1
                answer = attempt.answers.get(item.identifier)
                values, incomplete = _values_of(answer), None
                draft = drafts["answers"].get(item.identifier)
                if draft is not None and not attempt.answers_locked:
                    values = dict(draft)
                    kind, _raw, incomplete = read_item(_draft_form(item, draft), item)
                    if kind != "incomplete":
                        incomplete = None
                if page is not None and item.identifier in page.item_values:
                    values = page.item_values[item.identifier]
                    incomplete = page.incomplete_messages.get(item.identifier)
                items.append(ItemView(item, number, values, answer is not None, incomplete,
                                      locked=attempt.answers_locked))
        rating = attempt.self_ratings.get(indicator.identifier)
        if page is not None and indicator.identifier in page.self_ratings:
            rating = page.self_ratings[indicator.identifier]
        indicator_views.append(IndicatorView(
            indicator, items, rating, attempt.reviewer_ratings.get(indicator.identifier),
            bool(evidence_by.get(indicator.identifier))))

    level_ids = {i.identifier for i in level.indicators}
    entries: list[EvidenceView] = []
    if page is not None:
        removed = set(page.remove_evidence)
        for entry in page.evidence:
            if entry.identifier in removed:
                continue
            is_new = entry.identifier in page.new_evidence_ids
            if is_new and entry.is_blank:
                continue
            entries.append(EvidenceView(
                entry.identifier, entry.situation, entry.action, entry.outcome,
                entry.indicator_ids, is_new=is_new,
                is_draft=not entry.indicator_ids,
                errors={k[len(f"ev-{entry.identifier}-"):]: v for k, v in page.errors.items()
                        if k.startswith(f"ev-{entry.identifier}-")},
                warnings=(warnings or {}).get(entry.identifier, [])))
    else:
        for entry in attempt.evidence.values():
            if level_ids & set(entry.indicator_ids):
                entries.append(EvidenceView(entry.identifier, entry.situation, entry.action,
                                            entry.outcome, entry.indicator_ids))
        for evidence_id, draft in drafts["evidence"].items():
            if draft.get("level") in (None, level.number):
                entries.append(EvidenceView(
                    evidence_id, draft.get("situation", ""), draft.get("action", ""),
                    draft.get("outcome", ""), (), is_draft=True))
    if attempt.settings.self_assessment and attempt.is_editable_by_learner and not any(
            e.is_new for e in entries):
        entries.append(EvidenceView(uuid.uuid4().hex, is_new=True))

    incomplete_items = [iv for ind in indicator_views for iv in ind.items if iv.incomplete]
    index = [lv.number for lv in levels].index(level.number)
    return {
        "row": row, "attempt": attempt, "level": level, "levels": levels,
        "indicators": indicator_views, "evidence": entries,
        "assessed_levels": [(lv, [i for i in lv.indicators if i in assessed]) for lv in levels],
        "progress": progress_of(attempt),
        "incomplete_items": incomplete_items,
        "previous_level": levels[index - 1] if index > 0 else None,
        "next_level": levels[index + 1] if index + 1 < len(levels) else None,
        "rating_scale": _content().framework.rules.rating_scale,
        "rate_labels": RATE_LABELS, "evidence_parts": EVIDENCE_PARTS,
        "evidence_max": EVIDENCE_FIELD_MAX,
        "page_errors": page.errors if page is not None else {},
        "warnings": warnings or {},
    }


def _draft_form(item: assessments.Item, draft: Mapping[str, Any]) -> MultiDict:
    """A stored draft as the form fields it came from (to explain what is missing)."""
    name = "q-" + item.identifier
    pairs: list[tuple[str, str]] = []
    for value in draft.get("chosen", []) or []:
        pairs.append((name, value))
    for option, rank in (draft.get("ranks") or {}).items():
        pairs.append((f"{name}-rank-{option}", str(rank)))
    for option, rating in (draft.get("ratings") or {}).items():
        pairs.append((f"{name}-rate-{option}", str(rating)))
    return MultiDict(pairs)


def _render_level(row, attempt, level, *, status: int = 200, **extra: Any):
    page = extra.pop("page", None)
    warnings = extra.pop("warnings", None)
    context = _page_context(row, attempt, level, page, warnings=warnings)
    context.update(extra)
    context.setdefault("activity", g.get("activity"))
    return render_template("learner/level.html", **context), status


def _level_or_404(attempt: assessments.Attempt, number: int) -> assessments.Level:
    for level in _levels(attempt):
        if level.number == number:
            return level
    abort_with(404, "level_not_found", "This assessment has no such level.")
    raise AssertionError  # abort_with raises


def _where_to_resume(attempt: assessments.Attempt) -> int:
    for progress in progress_of(attempt):
        if not progress.complete:
            return progress.level.number
    return _levels(attempt)[0].number


# -- pages -----------------------------------------------------------------------------------


@bp.get("/")
@launch_view("learner")
def start():
    """What is assessed, how, how long it takes; start or continue."""
    activity = _activity()
    settings = activities.settings_of(activity)
    dimension = _content().framework.dimension(settings.dimension_id)
    history = attempts.attempts_of(db(), activity, g.launch.user)
    latest = history[0] if history else None
    latest_attempt = attempts.domain_attempt(latest) if latest else None
    may_start = assessments.may_start_attempt(latest_attempt, settings)
    results = {}
    for row in history:
        if row.status != AttemptStatus.DRAFT.value:
            results[row.id] = attempts.result_of(_content(), row)
    return render_template(
        "learner/start.html", activity=activity, settings=settings, dimension=dimension,
        levels=dimension.levels[: settings.top_level],
        indicator_count=len(dimension.indicators_up_to(settings.top_level)),
        item_count=(sum(len(_content().bank_for(settings.dimension_id).items_for(i.identifier))
                        for i in dimension.indicators_up_to(settings.top_level))
                    if settings.knowledge_check else 0),
        duration=duration_text(estimate_minutes(settings)),
        history=history, latest=latest, latest_attempt=latest_attempt, may_start=may_start,
        results=results,
        progress=progress_of(latest_attempt) if latest_attempt and
        latest_attempt.is_editable_by_learner else None,
    )


@bp.post("/attempts")
@launch_view("learner")
def begin():
    """Start the first attempt, or a new one after a final attempt."""
    activity = _activity()
    try:
        row = attempts.start_attempt(db(), _content(), activity, g.launch.user)
    except AttemptServiceError as error:
        if error.code == "attempt_open":
            db().rollback()  # the other tab's start won the race: use its attempt
            latest = attempts.latest_attempt(db(), activity, g.launch.user)
            if latest is not None:
                return redirect(url_for_launch("learner.resume", attempt_id=latest.id),
                                code=303)
        return error_response(409, error.code, error.message)
    first = _levels(attempts.domain_attempt(row))[0].number
    return redirect(url_for_launch("learner.level", attempt_id=row.id, number=first), code=303)


@bp.get("/attempts/<int:attempt_id>")
@launch_view("learner")
def resume(attempt_id: int):
    """Continue where the learner left off, or see the result."""
    _activity_row, row = _own_attempt(attempt_id)
    attempt = attempts.domain_attempt(row)
    if attempt.is_editable_by_learner:
        return redirect(url_for_launch("learner.level", attempt_id=row.id,
                                       number=_where_to_resume(attempt)), code=303)
    return redirect(url_for_launch("learner.result", attempt_id=row.id), code=303)


@bp.get("/attempts/<int:attempt_id>/levels/<int:number>")
@launch_view("learner")
def level(attempt_id: int, number: int):
    """One level: its indicators, their questions, self-ratings and examples."""
    activity, row = _own_attempt(attempt_id)
    attempt = attempts.domain_attempt(row)
    if not attempt.is_editable_by_learner:
        return redirect(url_for_launch("learner.result", attempt_id=row.id), code=303)
    lvl = _level_or_404(attempt, number)
    g.activity = activity
    return _render_level(row, attempt, lvl, saved=request.args.get("saved"))


def _json_saved(row: models.Attempt, attempt: assessments.Attempt, page: PageInput,
                warnings: dict[str, list]) -> Any:
    return jsonify({
        "saved": True,
        "version": row.version,
        "progress": _progress_json(attempt),
        "incomplete": page.incomplete_messages,
        "warnings": {k: [d.message for d in v] for k, v in warnings.items()},
        "held_back": sorted(warnings),
    })


@bp.post("/attempts/<int:attempt_id>/levels/<int:number>")
@launch_view("learner")
def save_level(attempt_id: int, number: int):
    """Save a level page (a button, or learner.js's autosave asking for JSON)."""
    activity, row = _own_attempt(attempt_id)
    g.activity = activity
    attempt = attempts.domain_attempt(row)
    lvl = _level_or_404(attempt, number)
    form = request.form
    action = form.get("action", "save")
    page = read_page(form, attempt, lvl)
    if not attempt.is_editable_by_learner:
        message = ("This attempt was submitted (perhaps from another tab) and can no longer "
                   "change, so this page was not saved. Your text is still here to copy.")
        if wants_json():
            return error_response(409, "attempt_locked", message)
        return _render_level(row, attempt, lvl, status=409, page=page,
                             error_code="attempt_locked", error_message=message)
    if page.errors:
        if wants_json():
            return error_response(400, "evidence_too_long",
                                  next(iter(page.errors.values())),
                                  extra={"fields": page.errors})
        return _render_level(row, attempt, lvl, status=400, page=page,
                             error_code="evidence_too_long")

    # Examples with new text that looks patient-identifiable wait for the learner's word.
    kept = [e for e in page.evidence if e.identifier not in page.remove_evidence]
    warnings = {} if form.get("confirm_identifiable") else attempts.evidence_warnings(
        row, kept)
    to_save = [e for e in kept if e.identifier not in warnings]
    to_save = [_with_level(e, lvl.number) for e in to_save]

    expected = form.get("version", type=int)
    if action == "overwrite":
        expected = form.get("current_version", type=int)
    try:
        attempts.save_learner_work(
            db(), _content(), row, expected, answers=page.answers,
            incomplete_answers=page.incomplete,
            self_ratings=page.self_ratings if attempt.settings.self_assessment else None,
            evidence=to_save if attempt.settings.self_assessment else None,
            remove_evidence=page.remove_evidence, actor=g.launch.user)
    except StaleAttempt:
        db().rollback()
        current = db().get(models.Attempt, row.id)
        db().refresh(current)
        if wants_json():
            return error_response(
                409, "attempt_stale",
                "Another tab or window saved newer work on this attempt. Your changes on "
                "this page are not saved yet.",
                extra={"current_version": current.version})
        return _render_level(row, attempt, lvl, status=409, page=page,
                             stale_version=current.version, form_version=expected)
    except AttemptServiceError as error:
        if wants_json():
            return error_response(400, error.code, error.message)
        return _render_level(row, attempt, lvl, status=400, page=page,
                             error_code=error.code, error_message=error.message)

    saved_attempt = attempts.domain_attempt(row)
    if wants_json():
        return _json_saved(row, saved_attempt, page, warnings)
    if warnings:
        return _render_level(row, saved_attempt, lvl, page=page, warnings=warnings,
                             saved="partly")
    if page.incomplete_messages and action == "continue":
        return _render_level(row, saved_attempt, lvl, page=page, saved="incomplete")
    if action == "continue":
        levels = _levels(saved_attempt)
        later = [lv for lv in levels if lv.number > lvl.number]
        target = (url_for_launch("learner.level", attempt_id=row.id, number=later[0].number)
                  if later else url_for_launch("learner.review", attempt_id=row.id))
        return redirect(target, code=303)
    if action.startswith("goto-"):
        return redirect(_goto(row, saved_attempt, action[5:]), code=303)
    anchor = form.get("return_to", "main")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", anchor):
        anchor = "main"  # an anchor only: never let form text reach a header
    return redirect(url_for_launch("learner.level", attempt_id=row.id, number=lvl.number,
                                   saved="1") + f"#{anchor}", code=303)


def _goto(row: models.Attempt, attempt: assessments.Attempt, where: str) -> str:
    if where == "review":
        return url_for_launch("learner.review", attempt_id=row.id)
    numbers = {lv.number for lv in _levels(attempt)}
    if re.fullmatch(r"[0-9]{1,3}", where) and int(where) in numbers:
        return url_for_launch("learner.level", attempt_id=row.id, number=int(where))
    return url_for_launch("learner.start")


def _with_level(entry: EvidenceInput, number: int) -> EvidenceInput:
    return dataclasses.replace(entry, level=number)


@bp.get("/attempts/<int:attempt_id>/review")
@launch_view("learner")
def review(attempt_id: int):
    """What is missing, level by level, and the submit button."""
    g.activity, row = _own_attempt(attempt_id)
    attempt = attempts.domain_attempt(row)
    if not attempt.is_editable_by_learner:
        return redirect(url_for_launch("learner.result", attempt_id=row.id), code=303)
    return render_template("learner/review.html", **_review_context(row, attempt))


def _review_context(row: models.Attempt, attempt: assessments.Attempt) -> dict[str, Any]:
    drafts = attempts.drafts_of(row)
    evidence_by = _evidence_for(attempt)
    sections = []
    for level in _levels(attempt):
        unanswered, incomplete = [], []
        number = 0
        for item in _level_items(attempt, level):
            number += 1
            if item.identifier in drafts["answers"] and not attempt.answers_locked:
                incomplete.append(item)
            elif item.identifier not in attempt.answers:
                unanswered.append(item)
        unrated, without_evidence = [], []
        if attempt.settings.self_assessment:
            for indicator in level.indicators:
                if indicator.identifier not in attempt.self_ratings:
                    unrated.append(indicator)
                if not evidence_by.get(indicator.identifier):
                    without_evidence.append(indicator)
        sections.append({"level": level, "unanswered": unanswered, "incomplete": incomplete,
                         "unrated": unrated, "without_evidence": without_evidence})
    unlinked = [d for d in drafts["evidence"].values()]
    missing = sum(len(s["unanswered"]) + len(s["incomplete"]) + len(s["unrated"])
                  + len(s["without_evidence"]) for s in sections)
    return {"activity": g.get("activity"),
            "row": row, "attempt": attempt, "sections": sections, "missing": missing,
            "unlinked": unlinked, "levels": _levels(attempt),
            "progress": progress_of(attempt), "anchor": lambda i: "q-" + _safe(i.identifier)}


@bp.post("/attempts/<int:attempt_id>/submit")
@launch_view("learner")
def submit(attempt_id: int):
    """Submit, after the learner confirmed."""
    g.activity, row = _own_attempt(attempt_id)
    attempt = attempts.domain_attempt(row)
    if not request.form.get("confirm"):
        context = _review_context(row, attempt)
        return render_template("learner/review.html", confirm_error=True, **context), 400
    try:
        attempts.submit(db(), _content(), row, request.form.get("version", type=int),
                        actor=g.launch.user)
    except StaleAttempt:
        db().rollback()
        current = db().get(models.Attempt, row.id)
        db().refresh(current)
        context = _review_context(current, attempts.domain_attempt(current))
        return render_template("learner/review.html", stale=True, **context), 409
    except AttemptServiceError as error:
        return error_response(409, error.code, error.message)
    return redirect(url_for_launch("learner.result", attempt_id=row.id, submitted="1"),
                    code=303)


def _reviewer_and_date(row: models.Attempt) -> tuple[str | None, Any]:
    signed = None
    for event in attempts.history(db(), row):
        if event.kind in ("signed_off", "overridden"):
            signed = event
    if signed is None:
        return None, None
    return signed.actor_name, signed.at


def _result_context(activity: models.Activity, row: models.Attempt) -> dict[str, Any]:
    attempt = attempts.domain_attempt(row)
    result = attempts.result_of(_content(), row)
    bank = _content().bank_for(attempt.settings.dimension_id)
    settings = activities.settings_of(activity)
    latest = attempts.latest_attempt(db(), activity, g.launch.user)
    reviewer, reviewed_at = _reviewer_and_date(row)
    return {
        "activity": activity, "row": row, "attempt": attempt, "result": result,
        "bank": bank, "levels": _levels(attempt), "dimension": _dimension(attempt),
        "rating_scale": _content().framework.rules.rating_scale,
        "unmet_reasons": UNMET_REASONS, "rate_labels": RATE_LABELS,
        "may_start_new": latest is not None and latest.id == row.id and
        assessments.may_start_attempt(attempt, settings),
        "reviewer": reviewer, "reviewed_at": reviewed_at,
        "evidence": list(attempt.evidence.values()),
        "indicator_codes": {i.identifier: i.code for i in _dimension(attempt).indicators},
    }


@bp.get("/attempts/<int:attempt_id>/result")
@launch_view("learner")
def result(attempt_id: int):
    """The level achieved, every indicator's outcome and feedback, what comes next."""
    activity, row = _own_attempt(attempt_id)
    if row.status == AttemptStatus.DRAFT.value:
        return redirect(url_for_launch("learner.resume", attempt_id=row.id), code=303)
    return render_template("learner/result.html", submitted=request.args.get("submitted"),
                           **_result_context(activity, row))


@bp.get("/attempts/<int:attempt_id>/record")
@launch_view("learner")
def record(attempt_id: int):
    """A printable record for an appraisal portfolio."""
    activity, row = _own_attempt(attempt_id)
    return render_template("learner/record.html", **_result_context(activity, row))
