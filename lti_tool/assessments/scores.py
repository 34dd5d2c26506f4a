"""The gradebook mapping: what AGS score an attempt sends, and when sending is allowed.

From DESIGN.md ("Gradebook mapping"): ``scoreGiven`` = level achieved, ``scoreMaximum`` =
top level assessed, both only when final (``Completed`` + ``FullyGraded``); submitted and
awaiting review sends ``Submitted`` + ``PendingManual`` without a score; a returned attempt
``InProgress`` + ``NotReady``; a draft sends nothing. Once a final score was sent, nothing
non-final is sent again (Moodle wipes the grade when ``scoreGiven`` is absent).
"""

from __future__ import annotations

from dataclasses import dataclass

from .attempt import Attempt, AttemptStatus
from .framework import Framework
from .rules import AttemptResult


@dataclass(frozen=True)
class ScoreToSend:
    """An AGS score without its ``userId`` and ``timestamp`` (the sender adds those).

    ``score_given`` and ``score_maximum`` are set only when ``final``.
    """

    activity_progress: str
    grading_progress: str
    score_given: int | None
    score_maximum: int | None
    comment: str
    final: bool

    def to_ags(self) -> dict[str, object]:
        """The score's AGS JSON fields (``scoreGiven``/``scoreMaximum`` only when final)."""
        body: dict[str, object] = {
            "activityProgress": self.activity_progress,
            "gradingProgress": self.grading_progress,
            "comment": self.comment,
        }
        if self.score_given is not None:
            body["scoreGiven"] = self.score_given
            body["scoreMaximum"] = self.score_maximum
        return body


def level_comment(result: AttemptResult) -> str:
    """"Level 2 - Contribute to the improvement of services; target level 2 met", with the
    override's reason appended when an educator set the level."""
    if result.level is None:
        head = "No level achieved yet"
    else:
        head = result.level.title
    met = "met" if result.target_met else "not met"
    comment = f"{head}; target level {result.target_level} {met}"
    if result.overridden is not None:
        comment += f"; level set by an educator: {result.overridden.reason}"
    return comment


def ags_score(
    attempt: Attempt, result: AttemptResult, framework: Framework | None = None
) -> ScoreToSend | None:
    """The score to send for the attempt's current status, or ``None`` (draft: nothing).

    ``framework`` is accepted for symmetry with :func:`~lti_tool.assessments.rules.evaluate`;
    the level's title already travels in ``result``.
    """
    status = attempt.status
    if status is AttemptStatus.DRAFT:
        return None
    if status in (AttemptStatus.SUBMITTED, AttemptStatus.IN_REVIEW):
        return ScoreToSend("Submitted", "PendingManual", None, None,
                           "Submitted; awaiting review", final=False)
    if status is AttemptStatus.RETURNED:
        return ScoreToSend("InProgress", "NotReady", None, None,
                           "Returned for more evidence", final=False)
    return ScoreToSend(
        "Completed",
        "FullyGraded",
        score_given=result.level_achieved,
        score_maximum=result.top_level,
        comment=level_comment(result),
        final=True,
    )


def may_send(score: ScoreToSend | None, final_already_sent: bool) -> bool:
    """Whether ``score`` may be sent: never nothing, and never a non-final score once a
    final one was sent. Pass ``final_already_sent`` for the learner's line item, not only
    the attempt: a second attempt's "Submitted" would wipe the first attempt's grade."""
    if score is None:
        return False
    return score.final or not final_already_sent
