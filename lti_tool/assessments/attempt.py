"""A learner's attempt at an activity, as a state machine.

::

    draft --submit--> submitted --start_review--> in_review --sign_off--> final
      |                                             |
      +--submit (no review required)--> final       +--return_to_learner--> returned
                                                                      (submit again)

Knowledge-check answers can be recorded only before the first submission; a return
reopens self-ratings and evidence, never answers. Reviewer ratings are only given in
review. An educator may override the level of a final attempt, with a reason.

Every operation takes the actor and the time (the domain reads no clock), validates the
transition, changes the attempt and returns the :class:`AttemptEvent` list it produced
for the append-only history. Illegal operations raise :class:`AttemptError` subclasses
with a stable ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .questions import Answer, Item, ItemFormat
from .settings import ActivitySettings, settings_from_dict, settings_to_dict

#: Ratings of the 0/1/2 scale (0 not yet, 1 partly, 2 consistently).
RATINGS = (0, 1, 2)


class AttemptStatus(StrEnum):
    """Where an attempt is in its lifecycle."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    FINAL = "final"


class AttemptError(Exception):
    """An operation the attempt refuses. ``code`` is stable; ``message`` is plain English."""

    code = "attempt_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IllegalTransition(AttemptError):
    """The operation is not allowed in the attempt's current status."""


class Locked(AttemptError):
    """The part of the attempt being changed can no longer change."""


class InvalidInput(AttemptError):
    """The operation's input is not acceptable (a rating outside 0..2, no reason ...)."""


@dataclass(frozen=True)
class AttemptEvent:
    """One entry of the attempt's append-only history: who did what, when."""

    kind: str
    actor: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """A reflective example; one entry may support several indicators. It counts as
    evidence only when ``is_complete`` (situation, action and outcome all written)."""

    identifier: str
    situation: str
    action: str
    outcome: str
    indicator_ids: tuple[str, ...]

    @property
    def is_complete(self) -> bool:
        """Whether situation, action and outcome are all written."""
        return all(s.strip() for s in (self.situation, self.action, self.outcome))


@dataclass(frozen=True)
class ReviewerRating:
    """A reviewer's 0/1/2 rating of one indicator, with a comment."""

    rating: int
    comment: str = ""


@dataclass(frozen=True)
class Override:
    """An educator's replacement of the level achieved on a final attempt."""

    level: int
    reason: str
    by: str
    at: datetime


def _check_rating(rating: int, what: str) -> None:
    if isinstance(rating, bool) or rating not in RATINGS:
        raise InvalidInput("rating_out_of_range", f"A {what} is 0, 1 or 2.")


@dataclass
class Attempt:
    """One attempt. Build a new one with :meth:`start`; rebuild a stored one with
    :meth:`from_dict`."""

    framework_version: str
    bank_version: str
    settings: ActivitySettings
    number: int = 1
    status: AttemptStatus = AttemptStatus.DRAFT
    started_at: datetime | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    self_ratings: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    reviewer_ratings: dict[str, ReviewerRating] = field(default_factory=dict)
    reviewer_comment: str = ""
    override: Override | None = None
    submitted_at: datetime | None = None
    finalised_at: datetime | None = None
    signed_off_by: str | None = None

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        framework_version: str,
        bank_version: str,
        settings: ActivitySettings,
        actor: str,
        at: datetime,
        number: int = 1,
    ) -> tuple[Attempt, list[AttemptEvent]]:
        """Start a draft attempt pinned to these versions and settings."""
        attempt = cls(
            framework_version=framework_version,
            bank_version=bank_version,
            settings=settings,
            number=number,
            started_at=at,
        )
        event = AttemptEvent(
            "started",
            actor,
            at,
            {
                "number": number,
                "framework_version": framework_version,
                "bank_version": bank_version,
            },
        )
        return attempt, [event]

    # -- state helpers ---------------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        """Whether the attempt is final (signed off, or submitted without review)."""
        return self.status is AttemptStatus.FINAL

    @property
    def is_editable_by_learner(self) -> bool:
        """Whether the learner may change self-ratings and evidence (draft or returned)."""
        return self.status in (AttemptStatus.DRAFT, AttemptStatus.RETURNED)

    @property
    def answers_locked(self) -> bool:
        """Knowledge-check answers lock at the first submission and never reopen."""
        return self.submitted_at is not None or self.status is not AttemptStatus.DRAFT

    def _require(self, *allowed: AttemptStatus, action: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition(
                "illegal_transition", f"Cannot {action} an attempt that is {self.status.value}."
            )

    def _require_learner_edit(self, what: str) -> None:
        if not self.is_editable_by_learner:
            raise Locked("locked", f"{what} cannot change while the attempt is "
                         f"{self.status.value}.")

    # -- learner ---------------------------------------------------------------------------

    def record_answer(
        self, item: Item, answer: Answer, *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """Record (or replace) the answer to one knowledge-check item."""
        if not self.settings.knowledge_check:
            raise InvalidInput("knowledge_check_off", "This activity has no knowledge check.")
        if self.answers_locked:
            raise Locked("answers_locked", "Knowledge-check answers cannot change after "
                         "the attempt was submitted.")
        if answer.format is not item.format:
            raise InvalidInput("wrong_format", "This answer belongs to another kind of question.")
        self.answers[item.identifier] = answer
        return [AttemptEvent("answer_recorded", actor, at,
                             {"item_id": item.identifier, "answer": answer.to_raw()})]

    def set_self_rating(
        self, indicator_id: str, rating: int | None, *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """Set the learner's 0/1/2 self-rating of an indicator (``None`` clears it)."""
        if not self.settings.self_assessment:
            raise InvalidInput("self_assessment_off", "This activity has no self-assessment.")
        self._require_learner_edit("Self-ratings")
        if rating is None:
            self.self_ratings.pop(indicator_id, None)
        else:
            _check_rating(rating, "self-rating")
            self.self_ratings[indicator_id] = rating
        return [AttemptEvent("self_rated", actor, at,
                             {"indicator_id": indicator_id, "rating": rating})]

    def save_evidence(
        self, evidence: Evidence, *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """Add or replace an evidence entry (by its identifier)."""
        if not self.settings.self_assessment:
            raise InvalidInput("self_assessment_off", "This activity has no self-assessment.")
        self._require_learner_edit("Evidence")
        if not evidence.indicator_ids:
            raise InvalidInput("evidence_without_indicator",
                               "Choose at least one indicator this example shows.")
        self.evidence[evidence.identifier] = evidence
        return [AttemptEvent("evidence_saved", actor, at, _evidence_to_dict(evidence))]

    def delete_evidence(
        self, evidence_id: str, *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """Remove an evidence entry."""
        self._require_learner_edit("Evidence")
        if evidence_id not in self.evidence:
            raise InvalidInput("unknown_evidence", "There is no such evidence entry.")
        del self.evidence[evidence_id]
        return [AttemptEvent("evidence_deleted", actor, at, {"evidence_id": evidence_id})]

    def submit(self, *, actor: str, at: datetime) -> list[AttemptEvent]:
        """Submit a draft or returned attempt: final at once when the activity requires no
        review, otherwise submitted for review."""
        self._require(AttemptStatus.DRAFT, AttemptStatus.RETURNED, action="submit")
        self.submitted_at = at
        events = [AttemptEvent("submitted", actor, at, {})]
        if self.settings.review_required:
            self.status = AttemptStatus.SUBMITTED
        else:
            self.status = AttemptStatus.FINAL
            self.finalised_at = at
            events.append(AttemptEvent("finalised", actor, at, {}))
        return events

    # -- reviewer --------------------------------------------------------------------------

    def start_review(self, *, actor: str, at: datetime) -> list[AttemptEvent]:
        """A reviewer opens a submitted attempt."""
        self._require(AttemptStatus.SUBMITTED, action="start reviewing")
        self.status = AttemptStatus.IN_REVIEW
        return [AttemptEvent("review_started", actor, at, {})]

    def rate_indicator(
        self, indicator_id: str, rating: int, comment: str = "", *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """A reviewer rates one indicator 0/1/2 with a comment."""
        self._require(AttemptStatus.IN_REVIEW, action="rate")
        _check_rating(rating, "reviewer rating")
        self.reviewer_ratings[indicator_id] = ReviewerRating(rating, comment)
        return [AttemptEvent("indicator_rated", actor, at,
                             {"indicator_id": indicator_id, "rating": rating,
                              "comment": comment})]

    def set_reviewer_comment(
        self, comment: str, *, actor: str, at: datetime
    ) -> list[AttemptEvent]:
        """A reviewer's general comment on the attempt."""
        self._require(AttemptStatus.IN_REVIEW, action="comment on")
        self.reviewer_comment = comment
        return [AttemptEvent("reviewer_commented", actor, at, {"comment": comment})]

    def return_to_learner(
        self, *, actor: str, at: datetime, comment: str | None = None
    ) -> list[AttemptEvent]:
        """Return the attempt for more evidence: self-ratings and evidence reopen."""
        self._require(AttemptStatus.IN_REVIEW, action="return")
        if comment is not None:
            self.reviewer_comment = comment
        self.status = AttemptStatus.RETURNED
        return [AttemptEvent("returned", actor, at, {"comment": self.reviewer_comment})]

    def sign_off(self, *, actor: str, at: datetime) -> list[AttemptEvent]:
        """Sign the attempt off: it becomes final."""
        self._require(AttemptStatus.IN_REVIEW, action="sign off")
        self.status = AttemptStatus.FINAL
        self.finalised_at = at
        self.signed_off_by = actor
        return [AttemptEvent("signed_off", actor, at, {}),
                AttemptEvent("finalised", actor, at, {})]

    def override_level(
        self, level: int, reason: str, *, by: str, at: datetime
    ) -> list[AttemptEvent]:
        """An educator replaces the level achieved of a final attempt, giving a reason."""
        self._require(AttemptStatus.FINAL, action="override the level of")
        if isinstance(level, bool) or not isinstance(level, int) or not (
            0 <= level <= self.settings.top_level
        ):
            raise InvalidInput("level_out_of_range",
                               f"Choose a level from 0 to {self.settings.top_level}.")
        if not reason or not reason.strip():
            raise InvalidInput("reason_required", "Give a reason for changing the level.")
        self.override = Override(level, reason.strip(), by, at)
        return [AttemptEvent("overridden", by, at, {"level": level, "reason": reason.strip()})]

    # -- storage ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The attempt as plain JSON data (times as ISO 8601 strings)."""
        return {
            "framework_version": self.framework_version,
            "bank_version": self.bank_version,
            "settings": settings_to_dict(self.settings),
            "number": self.number,
            "status": self.status.value,
            "started_at": _time(self.started_at),
            "answers": {
                item_id: {"format": a.format.value, "value": a.to_raw()}
                for item_id, a in self.answers.items()
            },
            "self_ratings": dict(self.self_ratings),
            "evidence": [_evidence_to_dict(e) for e in self.evidence.values()],
            "reviewer_ratings": {
                i: {"rating": r.rating, "comment": r.comment}
                for i, r in self.reviewer_ratings.items()
            },
            "reviewer_comment": self.reviewer_comment,
            "override": None if self.override is None else {
                "level": self.override.level,
                "reason": self.override.reason,
                "by": self.override.by,
                "at": _time(self.override.at),
            },
            "submitted_at": _time(self.submitted_at),
            "finalised_at": _time(self.finalised_at),
            "signed_off_by": self.signed_off_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        """Rebuild an attempt stored by :meth:`to_dict`."""
        override = data.get("override")
        return cls(
            framework_version=data["framework_version"],
            bank_version=data["bank_version"],
            settings=settings_from_dict(data["settings"]),
            number=data.get("number", 1),
            status=AttemptStatus(data["status"]),
            started_at=_parse_time(data.get("started_at")),
            answers={
                item_id: _answer_from_dict(a) for item_id, a in data.get("answers", {}).items()
            },
            self_ratings={k: int(v) for k, v in data.get("self_ratings", {}).items()},
            evidence={
                e["identifier"]: Evidence(
                    identifier=e["identifier"],
                    situation=e["situation"],
                    action=e["action"],
                    outcome=e["outcome"],
                    indicator_ids=tuple(e["indicator_ids"]),
                )
                for e in data.get("evidence", [])
            },
            reviewer_ratings={
                k: ReviewerRating(v["rating"], v.get("comment", ""))
                for k, v in data.get("reviewer_ratings", {}).items()
            },
            reviewer_comment=data.get("reviewer_comment", ""),
            override=None if not override else Override(
                override["level"], override["reason"], override["by"],
                _parse_time(override["at"]),  # type: ignore[arg-type]
            ),
            submitted_at=_parse_time(data.get("submitted_at")),
            finalised_at=_parse_time(data.get("finalised_at")),
            signed_off_by=data.get("signed_off_by"),
        )


def may_start_attempt(latest: Attempt | None, settings: ActivitySettings) -> bool:
    """Whether a learner may start an attempt, given their latest one: the first always;
    another only after a final one and when the activity allows new attempts."""
    if latest is None:
        return True
    return latest.is_final and settings.new_attempts_allowed


def _evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "identifier": evidence.identifier,
        "situation": evidence.situation,
        "action": evidence.action,
        "outcome": evidence.outcome,
        "indicator_ids": list(evidence.indicator_ids),
    }


def _answer_from_dict(data: dict[str, Any]) -> Answer:
    fmt = ItemFormat(data["format"])
    value = data["value"]
    if fmt is ItemFormat.SINGLE_BEST:
        return Answer(fmt, choices=(value,))
    if fmt is ItemFormat.RATE_EACH:
        return Answer(fmt, ratings=tuple((k, int(v)) for k, v in value.items()))
    return Answer(fmt, choices=tuple(value))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
