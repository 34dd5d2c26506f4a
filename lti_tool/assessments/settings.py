"""Activity settings: what an activity assesses and how its judgements count."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .framework import Framework


@dataclass(frozen=True)
class ActivitySettings:
    """How one activity is assessed.

    Levels 1..``top_level`` of dimension ``dimension_id`` are assessed; ``target_level`` is
    the level the learner's post requires. ``knowledge_check``, ``self_assessment`` and
    ``review_required`` say which judgements count (at least one does).
    ``pass_mark_percent`` applies to each indicator's knowledge-check items.
    """

    dimension_id: str
    top_level: int
    target_level: int
    knowledge_check: bool
    self_assessment: bool
    review_required: bool
    pass_mark_percent: int = 70
    new_attempts_allowed: bool = True
    title: str = ""


#: Settings that change how an attempt is scored; they lock for an activity once an
#: attempt is submitted (a new version of the settings applies to new attempts only).
SCORING_FIELDS = frozenset(
    {
        "dimension_id",
        "top_level",
        "target_level",
        "knowledge_check",
        "self_assessment",
        "review_required",
        "pass_mark_percent",
    }
)


def default_settings(framework: Framework, dimension_id: str | None = None) -> ActivitySettings:
    """Defaults for an activity that has none yet: every level of the dimension (the
    primary one unless given), target = top level, knowledge check and self-assessment
    with evidence counting, no review, the framework's default pass mark, new attempts
    allowed, titled after the dimension."""
    dimension = (
        framework.dimension(dimension_id) if dimension_id else framework.primary_dimension
    )
    return ActivitySettings(
        dimension_id=dimension.identifier,
        top_level=dimension.top_level,
        target_level=dimension.top_level,
        knowledge_check=True,
        self_assessment=True,
        review_required=False,
        pass_mark_percent=framework.rules.default_pass_mark_percent,
        new_attempts_allowed=True,
        title=dimension.title,
    )


class _FormBoolean(fields.Boolean):
    """A checkbox: "on", "true", "1", "yes" are true; an absent box is false."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=False, **kwargs)


class ActivitySettingsSchema(Schema):
    """Loads :class:`ActivitySettings` from a form-like mapping (strings accepted).

    ``ActivitySettingsSchema(framework=fw).load(form)``. Absent check boxes are false; an
    absent dimension is the primary one, an absent top level is the dimension's highest,
    an absent pass mark is the framework's default. Errors are keyed by field; the rule
    "at least one judgement counts" is reported under ``"judgements"``.
    """

    dimension_id = fields.String(load_default=None)
    top_level = fields.Integer(load_default=None, validate=validate.Range(min=1))
    target_level = fields.Integer(required=True, validate=validate.Range(min=1))
    knowledge_check = _FormBoolean()
    self_assessment = _FormBoolean()
    review_required = _FormBoolean()
    pass_mark_percent = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=100, error="Enter a pass mark from 1 to 100."),
    )
    new_attempts_allowed = _FormBoolean()
    title = fields.String(load_default="", validate=validate.Length(max=200))

    def __init__(self, *, framework: Framework, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.framework = framework

    @validates_schema
    def _check_consistency(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        dimension_id = data.get("dimension_id") or self.framework.primary_dimension.identifier
        try:
            dimension = self.framework.dimension(dimension_id)
        except KeyError:
            raise ValidationError("Unknown dimension.", "dimension_id") from None
        top = data.get("top_level") or dimension.top_level
        if top > dimension.top_level:
            errors["top_level"] = [f"Choose a top level from 1 to {dimension.top_level}."]
        if data["target_level"] > top:
            errors["target_level"] = ["The target level cannot be above the top level assessed."]
        if not (data["knowledge_check"] or data["self_assessment"] or data["review_required"]):
            errors["judgements"] = [
                "Choose at least one judgement that counts: knowledge check, "
                "self-assessment with evidence or review."
            ]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make_settings(self, data: dict[str, Any], **kwargs: Any) -> ActivitySettings:
        dimension = self.framework.dimension(
            data["dimension_id"] or self.framework.primary_dimension.identifier
        )
        pass_mark = data["pass_mark_percent"]
        return ActivitySettings(
            dimension_id=dimension.identifier,
            top_level=data["top_level"] or dimension.top_level,
            target_level=data["target_level"],
            knowledge_check=data["knowledge_check"],
            self_assessment=data["self_assessment"],
            review_required=data["review_required"],
            pass_mark_percent=(
                pass_mark if pass_mark is not None
                else self.framework.rules.default_pass_mark_percent
            ),
            new_attempts_allowed=data["new_attempts_allowed"],
            title=data["title"].strip() or dimension.title,
        )


def settings_to_dict(settings: ActivitySettings) -> dict[str, Any]:
    """The settings as plain JSON data for storage."""
    return dataclasses.asdict(settings)


def settings_from_dict(data: dict[str, Any]) -> ActivitySettings:
    """Rebuild settings stored by :func:`settings_to_dict` (no framework checks: stored
    settings were validated when they were saved and stay pinned to their attempts)."""
    names = {f.name for f in dataclasses.fields(ActivitySettings)}
    return ActivitySettings(**{k: v for k, v in data.items() if k in names})
