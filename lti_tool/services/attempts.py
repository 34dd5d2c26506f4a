"""Attempt use cases: start, save learner work, submit, review, return, sign off, override.

Every function takes the request's Session ``db`` and never commits (the web layer
commits once per request). The domain :class:`~lti_tool.assessments.Attempt` does the
rules; this module loads it from ``models.Attempt.state``, applies one operation, stores
it back with the denormalised columns, appends the domain's events to ``AttemptEvent``
and, when the gradebook must learn something, writes the grade outbox row through
``grades.enqueue_score`` in the same transaction.

Optimistic concurrency: ``models.Attempt.version`` is SQLAlchemy's ``version_id_col``.
Functions that take ``expected_version`` refuse a stale one with :class:`StaleAttempt`,
and a write that loses a race at flush time is reported the same way, so the last write
never silently erases a newer one.

Besides the domain's JSON, ``models.Attempt.state`` keeps two service keys the domain
ignores: ``settings_version`` (the activity settings version the attempt pinned) and
``drafts`` (work the domain cannot hold yet: a half-finished ranking, an evidence entry
not yet linked to an indicator), so nothing a learner typed is lost on a reload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from lti_tool import assessments
from lti_tool.persistence import models, utcnow

#: Longest text a learner may write in one evidence field (situation, action, outcome).
EVIDENCE_FIELD_MAX = 4000
#: Longest reviewer comment (per indicator, general, return comment, override reason).
COMMENT_MAX = 4000

# Keys of ``models.Attempt.state`` that belong to this module, not to the domain.
_SERVICE_KEYS = ("settings_version", "drafts")


class AttemptServiceError(Exception):
    """A refused operation. ``code`` is stable; ``message`` is fit to show a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StaleAttempt(AttemptServiceError):
    """Someone (another tab, another reviewer) saved the attempt after this page loaded."""

    def __init__(self, current_version: int | None = None) -> None:
        super().__init__(
            "attempt_stale",
            "This attempt was saved from another tab or window after you opened this page.",
        )
        self.current_version = current_version


@dataclass(frozen=True)
class EvidenceInput:
    """A learner's evidence entry as typed: ``indicator_ids`` may be empty while they are
    still writing it (it is then kept as a draft until they choose an indicator)."""

    identifier: str
    situation: str
    action: str
    outcome: str
    indicator_ids: tuple[str, ...]
    #: The level page it was written on (where a draft shows until it is linked).
    level: int | None = None

    @property
    def is_blank(self) -> bool:
        """Nothing written and nothing chosen."""
        return not (self.situation.strip() or self.action.strip() or self.outcome.strip()
                    or self.indicator_ids)


# -- loading ---------------------------------------------------------------------------------


def load_attempt(db: Session, attempt_pk: int) -> tuple[models.Attempt, assessments.Attempt]:
    """The row and its domain attempt; ``AttemptServiceError("attempt_not_found")``."""
    row = db.get(models.Attempt, attempt_pk)
    if row is None:
        raise AttemptServiceError("attempt_not_found", "There is no such attempt.")
    return row, domain_attempt(row)


def domain_attempt(row: models.Attempt) -> assessments.Attempt:
    """The domain attempt stored in ``row``."""
    return assessments.Attempt.from_dict(row.state)


def latest_attempt(
    db: Session, activity: models.Activity, user: models.LtiUser
) -> models.Attempt | None:
    """The user's most recent attempt at the activity (highest number), if any."""
    return db.scalars(
        select(models.Attempt)
        .where(models.Attempt.activity_pk == activity.id, models.Attempt.user_pk == user.id)
        .order_by(models.Attempt.number.desc())
        .limit(1)
    ).first()


def attempts_of(
    db: Session, activity: models.Activity, user: models.LtiUser
) -> list[models.Attempt]:
    """All the user's attempts at the activity, newest first."""
    return list(db.scalars(
        select(models.Attempt)
        .where(models.Attempt.activity_pk == activity.id, models.Attempt.user_pk == user.id)
        .order_by(models.Attempt.number.desc())
    ))


def history(db: Session, row: models.Attempt) -> list[models.AttemptEvent]:
    """The attempt's append-only history, oldest first."""
    return list(db.scalars(
        select(models.AttemptEvent)
        .where(models.AttemptEvent.attempt_pk == row.id)
        .order_by(models.AttemptEvent.at, models.AttemptEvent.id)
    ))


def settings_version_of(row: models.Attempt) -> int:
    """The activity settings version the attempt pinned when it started."""
    return int(row.state.get("settings_version") or 1)


def drafts_of(row: models.Attempt) -> dict[str, Any]:
    """Work kept beside the domain attempt: ``{"answers": {item_id: form values},
    "evidence": {evidence_id: {...}}}`` (both may be empty)."""
    drafts = row.state.get("drafts") or {}
    return {"answers": dict(drafts.get("answers") or {}),
            "evidence": dict(drafts.get("evidence") or {})}


def result_of(content: assessments.Content, row: models.Attempt) -> assessments.AttemptResult:
    """The attempt judged under its pinned settings."""
    attempt = domain_attempt(row)
    return _evaluate(content, attempt)


def _evaluate(
    content: assessments.Content, attempt: assessments.Attempt
) -> assessments.AttemptResult:
    bank = content.bank_for(attempt.settings.dimension_id)
    return assessments.evaluate(attempt, content.framework, bank)


# -- writing ---------------------------------------------------------------------------------


def _actor_name(user: models.LtiUser) -> str:
    # The domain keeps a readable name (signed off by, overridden by); the history row also
    # keeps the user's primary key, which is what identifies them.
    return user.display_name


def _check_version(row: models.Attempt, expected_version: int | None) -> None:
    if expected_version is None or int(expected_version) != row.version:
        raise StaleAttempt(row.version)


def _store(
    db: Session,
    row: models.Attempt,
    attempt: assessments.Attempt,
    events: Sequence[assessments.AttemptEvent],
    actor: models.LtiUser,
    *,
    content: assessments.Content | None = None,
    drafts: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Write the domain attempt back to its row, with the denormalised columns and the
    history, and flush (a lost race surfaces here, as :class:`StaleAttempt`)."""
    state = attempt.to_dict()
    for key in _SERVICE_KEYS:
        if key in row.state:
            state[key] = row.state[key]
    if drafts is not None:
        state["drafts"] = drafts
    # A new dict (never an in-place change) so SQLAlchemy sees the JSON column change.
    row.state = state
    row.status = attempt.status.value
    row.submitted_at = attempt.submitted_at
    row.finalised_at = attempt.finalised_at
    row.updated_at = at or utcnow()
    if attempt.is_final and content is not None:
        row.level_achieved = _evaluate(content, attempt).level_achieved
    elif not attempt.is_final:
        row.level_achieved = None
    for event in events:
        db.add(models.AttemptEvent(
            attempt_pk=row.id, kind=event.kind, actor_pk=actor.id,
            actor_name=_actor_name(actor), at=event.at, detail=_plain(event.detail),
        ))
    try:
        db.flush()
    except StaleDataError:
        raise StaleAttempt() from None


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Event detail as JSON (times as ISO strings, tuples as lists)."""
    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    return convert(detail)


def _enqueue(
    db: Session, content: assessments.Content, row: models.Attempt,
    attempt: assessments.Attempt,
) -> None:
    """Tell the gradebook, through the outbox, in this same transaction."""
    from lti_tool.services import grades

    grades.enqueue_score(db, content, row, attempt, _evaluate(content, attempt))


def _domain_call(call, *args: Any, **kwargs: Any) -> list[assessments.AttemptEvent]:
    """Run a domain operation, translating its errors to :class:`AttemptServiceError`."""
    try:
        return call(*args, **kwargs)
    except assessments.AttemptError as error:
        raise AttemptServiceError(error.code, error.message) from None


def start_attempt(
    db: Session, content: assessments.Content, activity: models.Activity,
    user: models.LtiUser,
) -> models.Attempt:
    """Start the user's next attempt, pinned to the activity's current settings and the
    current framework and bank versions. Refused (``attempt_not_allowed``) while an
    attempt is still open, or after a final one when the activity allows no more."""
    settings = assessments.settings_from_dict(activity.settings)
    latest = latest_attempt(db, activity, user)
    if latest is not None and not assessments.may_start_attempt(domain_attempt(latest),
                                                                settings):
        if latest.status != assessments.AttemptStatus.FINAL.value:
            raise AttemptServiceError("attempt_open",
                                      "You already have an attempt in progress.")
        raise AttemptServiceError("attempt_not_allowed",
                                  "This activity does not allow another attempt.")
    bank = content.bank_for(settings.dimension_id)
    now = utcnow()
    number = (latest.number + 1) if latest is not None else 1
    attempt, events = assessments.Attempt.start(
        framework_version=content.framework.version, bank_version=bank.version,
        settings=settings, actor=_actor_name(user), at=now, number=number,
    )
    state = attempt.to_dict()
    state["settings_version"] = activity.settings_version
    state["drafts"] = {"answers": {}, "evidence": {}}
    row = models.Attempt(
        activity_pk=activity.id, user_pk=user.id, number=number,
        status=attempt.status.value, state=state, created_at=now, updated_at=now,
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        # The unique (activity, user, number): the same start from two tabs at once. The
        # request's transaction is spoilt; the web layer answers and rolls it back.
        raise AttemptServiceError(
            "attempt_open", "An attempt was just started from another tab.") from None
    for event in events:
        db.add(models.AttemptEvent(
            attempt_pk=row.id, kind=event.kind, actor_pk=user.id,
            actor_name=_actor_name(user), at=event.at,
            detail=_plain({**event.detail, "settings_version": activity.settings_version}),
        ))
    db.flush()
    return row


def _check_evidence_sizes(evidence: Sequence[EvidenceInput]) -> None:
    for entry in evidence:
        for name in ("situation", "action", "outcome"):
            if len(getattr(entry, name)) > EVIDENCE_FIELD_MAX:
                raise AttemptServiceError(
                    "evidence_too_long",
                    f"Each part of an example can be up to {EVIDENCE_FIELD_MAX:,} characters.",
                )


def save_learner_work(
    db: Session,
    content: assessments.Content,
    row: models.Attempt,
    expected_version: int | None,
    *,
    answers: Mapping[str, Any] | None = None,
    self_ratings: Mapping[str, int | None] | None = None,
    evidence: Sequence[EvidenceInput | assessments.Evidence] | None = None,
    remove_evidence: Sequence[str] = (),
    incomplete_answers: Mapping[str, Mapping[str, Any] | None] | None = None,
    actor: models.LtiUser,
) -> models.Attempt:
    """Save a learner's page of work. Only what changed is recorded (one history event per
    change, so autosave does not flood the history).

    ``answers`` maps item ids to raw answers (:func:`assessments.parse_answer` shapes);
    ``self_ratings`` indicator ids to 0/1/2 (or ``None``); ``evidence`` entries are added or
    replaced by identifier (an entry with no indicator is kept as a draft);
    ``remove_evidence`` deletes entries; ``incomplete_answers`` keeps half-finished
    answers (form values, or ``None`` to forget one) beside the attempt. Raises
    :class:`StaleAttempt` or :class:`AttemptServiceError`.
    """
    _check_version(row, expected_version)
    attempt = domain_attempt(row)
    if row.user_pk != actor.id:
        raise AttemptServiceError("not_your_attempt", "This is not your attempt.")
    if not attempt.is_editable_by_learner:
        raise AttemptServiceError(
            "attempt_locked", "This attempt has been submitted and can no longer change.")
    bank = content.bank_for(attempt.settings.dimension_id)
    framework = content.framework
    now = utcnow()
    drafts = drafts_of(row)
    events: list[assessments.AttemptEvent] = []
    who = _actor_name(actor)

    for item_id, raw in (answers or {}).items():
        try:
            item = bank.item(item_id)
        except KeyError:
            raise AttemptServiceError("unknown_item", "That question is not in this "
                                      "assessment.") from None
        try:
            answer = assessments.parse_answer(item, raw)
        except assessments.InvalidAnswer as error:
            raise AttemptServiceError(error.code, error.message) from None
        drafts["answers"].pop(item_id, None)
        if attempt.answers.get(item_id) == answer:
            continue
        events += _domain_call(attempt.record_answer, item, answer, actor=who, at=now)

    for item_id, values in (incomplete_answers or {}).items():
        if values is None:
            drafts["answers"].pop(item_id, None)
        elif not attempt.answers_locked:
            drafts["answers"][item_id] = dict(values)

    for indicator_id, rating in (self_ratings or {}).items():
        if not framework.has_indicator(indicator_id):
            raise AttemptServiceError("unknown_indicator", "That indicator is not assessed.")
        if attempt.self_ratings.get(indicator_id) == rating:
            continue
        events += _domain_call(attempt.set_self_rating, indicator_id, rating, actor=who, at=now)

    entries = [
        e if isinstance(e, EvidenceInput) else EvidenceInput(
            e.identifier, e.situation, e.action, e.outcome, tuple(e.indicator_ids))
        for e in (evidence or ())
    ]
    _check_evidence_sizes(entries)
    for entry in entries:
        unknown = [i for i in entry.indicator_ids if not framework.has_indicator(i)]
        if unknown:
            raise AttemptServiceError("unknown_indicator", "That indicator is not assessed.")
        if not entry.identifier or len(entry.identifier) > 64:
            raise AttemptServiceError("bad_evidence_id", "That example cannot be saved.")
        if not entry.indicator_ids:
            # Kept beside the attempt until the learner links it to an indicator.
            if entry.is_blank:
                drafts["evidence"].pop(entry.identifier, None)
            else:
                drafts["evidence"][entry.identifier] = {
                    "situation": entry.situation, "action": entry.action,
                    "outcome": entry.outcome, "indicator_ids": [], "level": entry.level,
                }
            continue
        drafts["evidence"].pop(entry.identifier, None)
        value = assessments.Evidence(
            identifier=entry.identifier, situation=entry.situation, action=entry.action,
            outcome=entry.outcome, indicator_ids=tuple(dict.fromkeys(entry.indicator_ids)),
        )
        if attempt.evidence.get(entry.identifier) == value:
            continue
        events += _domain_call(attempt.save_evidence, value, actor=who, at=now)

    for evidence_id in remove_evidence:
        drafts["evidence"].pop(evidence_id, None)
        if evidence_id in attempt.evidence:
            events += _domain_call(attempt.delete_evidence, evidence_id, actor=who, at=now)

    if not events and drafts == drafts_of(row):
        return row  # nothing changed: the version stays, other tabs stay current
    _store(db, row, attempt, events, actor, content=content, drafts=drafts, at=now)
    return row


def submit(
    db: Session, content: assessments.Content, row: models.Attempt,
    expected_version: int | None, *, actor: models.LtiUser,
) -> models.Attempt:
    """Submit a draft or returned attempt (final at once when no review is required) and
    queue the score for the gradebook."""
    _check_version(row, expected_version)
    if row.user_pk != actor.id:
        raise AttemptServiceError("not_your_attempt", "This is not your attempt.")
    attempt = domain_attempt(row)
    now = utcnow()
    events = _domain_call(attempt.submit, actor=_actor_name(actor), at=now)
    _store(db, row, attempt, events, actor, content=content, at=now)
    _enqueue(db, content, row, attempt)
    return row


# -- reviewer --------------------------------------------------------------------------------


def _check_comment(text: str | None, what: str) -> None:
    if text is not None and len(text) > COMMENT_MAX:
        raise AttemptServiceError(
            "comment_too_long", f"The {what} can be up to {COMMENT_MAX:,} characters.")


def start_review(
    db: Session, content: assessments.Content, row: models.Attempt, *,
    reviewer: models.LtiUser,
) -> models.Attempt:
    """A reviewer opens a submitted attempt (in review from now on). Opening one already
    in review, or one that is not waiting for review, changes nothing."""
    attempt = domain_attempt(row)
    if attempt.status is not assessments.AttemptStatus.SUBMITTED:
        return row
    now = utcnow()
    events = _domain_call(attempt.start_review, actor=_actor_name(reviewer), at=now)
    _store(db, row, attempt, events, reviewer, content=content, at=now)
    return row


def save_review(
    db: Session, content: assessments.Content, row: models.Attempt,
    expected_version: int | None, *, ratings: Mapping[str, tuple[int, str]],
    general_comment: str | None, reviewer: models.LtiUser,
) -> models.Attempt:
    """Record a reviewer's 0/1/2 ratings with comments (indicator id -> (rating,
    comment)) and general comment; only changes are recorded."""
    _check_version(row, expected_version)
    attempt = domain_attempt(row)
    _check_comment(general_comment, "general comment")
    framework = content.framework
    now = utcnow()
    who = _actor_name(reviewer)
    events: list[assessments.AttemptEvent] = []
    for indicator_id, (rating, comment) in ratings.items():
        if not framework.has_indicator(indicator_id):
            raise AttemptServiceError("unknown_indicator", "That indicator is not assessed.")
        _check_comment(comment, "comment")
        current = attempt.reviewer_ratings.get(indicator_id)
        if current is not None and (current.rating, current.comment) == (rating, comment or ""):
            continue
        events += _domain_call(attempt.rate_indicator, indicator_id, rating, comment or "",
                               actor=who, at=now)
    if general_comment is not None and general_comment != attempt.reviewer_comment:
        events += _domain_call(attempt.set_reviewer_comment, general_comment, actor=who, at=now)
    if not events:
        if attempt.status is not assessments.AttemptStatus.IN_REVIEW:
            # Nothing to change, but say so rather than pretend a save happened.
            raise AttemptServiceError("illegal_transition",
                                      "This attempt is not in review.")
        return row
    _store(db, row, attempt, events, reviewer, content=content, at=now)
    return row


def return_to_learner(
    db: Session, content: assessments.Content, row: models.Attempt,
    expected_version: int | None, *, comment: str | None, reviewer: models.LtiUser,
) -> models.Attempt:
    """Return the attempt for more evidence (self-ratings and evidence reopen)."""
    _check_version(row, expected_version)
    _check_comment(comment, "comment")
    attempt = domain_attempt(row)
    now = utcnow()
    events = _domain_call(attempt.return_to_learner, actor=_actor_name(reviewer), at=now,
                          comment=comment)
    _store(db, row, attempt, events, reviewer, content=content, at=now)
    _enqueue(db, content, row, attempt)
    return row


def sign_off(
    db: Session, content: assessments.Content, row: models.Attempt,
    expected_version: int | None, *, reviewer: models.LtiUser,
) -> models.Attempt:
    """Sign the attempt off: final, and its level goes to the gradebook."""
    _check_version(row, expected_version)
    attempt = domain_attempt(row)
    now = utcnow()
    events = _domain_call(attempt.sign_off, actor=_actor_name(reviewer), at=now)
    _store(db, row, attempt, events, reviewer, content=content, at=now)
    _enqueue(db, content, row, attempt)
    return row


def override_level(
    db: Session, content: assessments.Content, row: models.Attempt,
    expected_version: int | None, *, level: int, reason: str, reviewer: models.LtiUser,
) -> models.Attempt:
    """An educator sets the level of a final attempt, with a reason; the new final score
    goes to the gradebook with the reason in its comment."""
    _check_version(row, expected_version)
    _check_comment(reason, "reason")
    attempt = domain_attempt(row)
    now = utcnow()
    events = _domain_call(attempt.override_level, level, reason, by=_actor_name(reviewer),
                          at=now)
    _store(db, row, attempt, events, reviewer, content=content, at=now)
    _enqueue(db, content, row, attempt)
    return row


# -- patient-identifiable details ------------------------------------------------------------


@dataclass(frozen=True)
class IdentifiableDetail:
    """Something in a learner's text that looks like it identifies a patient."""

    kind: str  # "nhs_number" | "date_of_birth" | "name"
    text: str  # the matching text, to point the learner at it
    message: str


_NHS_CANDIDATE = re.compile(r"(?<![\d])(\d{3})[ \-]?(\d{3})[ \-]?(\d{4})(?![\d])")
_DOB = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born\s+on)\b[:\s]*"
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\s+\d{2,4})?",
    re.IGNORECASE,
)
_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+[A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?")
_NAMED_PERSON = re.compile(
    r"\b(?:patient|service user|resident|client)\s+(?:called|named)\s+[A-Z][a-z'\-]+",
    re.IGNORECASE,
)


def is_valid_nhs_number(digits: str) -> bool:
    """Whether 10 digits form a valid NHS number (modulus 11 check digit)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def identifiable_details(text: str) -> list[IdentifiableDetail]:
    """Things in ``text`` that look patient-identifiable: a valid NHS number (with or
    without spaces or dashes), a date of birth, a patient's name. Deliberately cautious:
    the learner confirms or edits, nothing is refused."""
    found: list[IdentifiableDetail] = []
    for match in _NHS_CANDIDATE.finditer(text):
        if is_valid_nhs_number("".join(match.groups())):
            found.append(IdentifiableDetail(
                "nhs_number", match.group(0),
                f"“{match.group(0)}” looks like an NHS number."))
    for match in _DOB.finditer(text):
        found.append(IdentifiableDetail(
            "date_of_birth", match.group(0).strip(),
            f"“{match.group(0).strip()}” looks like a date of birth."))
    for pattern in (_TITLED_NAME, _NAMED_PERSON):
        for match in pattern.finditer(text):
            found.append(IdentifiableDetail(
                "name", match.group(0), f"“{match.group(0)}” looks like a person's name."))
    return found


def evidence_warnings(
    row: models.Attempt, entries: Sequence[EvidenceInput]
) -> dict[str, list[IdentifiableDetail]]:
    """Identifiable details in ``entries`` that are new: text already saved (and so
    already confirmed by the learner) does not warn again. Keyed by evidence id."""
    attempt = domain_attempt(row)
    drafts = drafts_of(row)["evidence"]
    warnings: dict[str, list[IdentifiableDetail]] = {}
    for entry in entries:
        saved = attempt.evidence.get(entry.identifier)
        saved_text = (
            " \n".join((saved.situation, saved.action, saved.outcome)) if saved is not None
            else " \n".join(str(drafts.get(entry.identifier, {}).get(k, ""))
                            for k in ("situation", "action", "outcome"))
        )
        known = {(d.kind, d.text) for d in identifiable_details(saved_text)}
        new = [
            d for d in identifiable_details(
                " \n".join((entry.situation, entry.action, entry.outcome)))
            if (d.kind, d.text) not in known
        ]
        if new:
            warnings[entry.identifier] = new
    return warnings
