"""Activity settings from an educator's form, defaults, and storage."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from lti_tool.assessments import (
    SCORING_FIELDS,
    ActivitySettings,
    ActivitySettingsSchema,
    default_settings,
    settings_from_dict,
    settings_to_dict,
)


def test_defaults_assess_the_whole_primary_dimension(ksf) -> None:
    settings = default_settings(ksf)
    assert settings == ActivitySettings(
        dimension_id=ksf.primary_dimension.identifier,
        top_level=4,
        target_level=4,
        knowledge_check=True,
        self_assessment=True,
        review_required=False,
        pass_mark_percent=70,
        new_attempts_allowed=True,
        title="Service improvement",
    )


def test_form_with_strings_and_check_boxes(ksf) -> None:
    form = {"top_level": "3", "target_level": "2", "knowledge_check": "on",
            "review_required": "on", "pass_mark_percent": "80", "title": " Appraisal 2026 "}
    settings = ActivitySettingsSchema(framework=ksf).load(form)
    assert settings == ActivitySettings(
        dimension_id=ksf.primary_dimension.identifier,
        top_level=3,
        target_level=2,
        knowledge_check=True,
        self_assessment=False,  # an unticked box is absent from a form post
        review_required=True,
        pass_mark_percent=80,
        new_attempts_allowed=False,
        title="Appraisal 2026",
    )


def test_form_picks_a_dimension_and_framework_defaults(synthetic) -> None:
    teamwork = synthetic.dimensions[1]
    settings = ActivitySettingsSchema(framework=synthetic).load(
        {"dimension_id": teamwork.identifier, "target_level": "1", "self_assessment": "true"}
    )
    assert (settings.dimension_id, settings.top_level, settings.pass_mark_percent,
            settings.title) == (teamwork.identifier, 3, 60, "Teamwork")


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"knowledge_check": "on"}, {"target_level": ["Missing data for required field."]}),
        ({"target_level": "3", "top_level": "2", "knowledge_check": "on"},
         {"target_level": ["The target level cannot be above the top level assessed."]}),
        ({"target_level": "2", "top_level": "5", "knowledge_check": "on"},
         {"top_level": ["Choose a top level from 1 to 4."]}),
        ({"target_level": "0", "knowledge_check": "on"},
         {"target_level": ["Must be greater than or equal to 1."]}),
        ({"target_level": "2", "pass_mark_percent": "0", "knowledge_check": "on"},
         {"pass_mark_percent": ["Enter a pass mark from 1 to 100."]}),
        ({"target_level": "2", "pass_mark_percent": "101", "knowledge_check": "on"},
         {"pass_mark_percent": ["Enter a pass mark from 1 to 100."]}),
        ({"target_level": "two", "knowledge_check": "on"},
         {"target_level": ["Not a valid integer."]}),
        ({"target_level": "2"},
         {"judgements": ["Choose at least one judgement that counts: knowledge check, "
                         "self-assessment with evidence or review."]}),
        ({"target_level": "2", "dimension_id": "nope", "knowledge_check": "on"},
         {"dimension_id": ["Unknown dimension."]}),
    ],
)
def test_form_errors_name_the_field(ksf, form, errors) -> None:
    with pytest.raises(ValidationError) as caught:
        ActivitySettingsSchema(framework=ksf).load(form)
    assert caught.value.messages == errors


def test_storage_round_trip(ksf) -> None:
    settings = ActivitySettingsSchema(framework=ksf).load(
        {"target_level": "2", "self_assessment": "on", "new_attempts_allowed": "on"}
    )
    stored = json.loads(json.dumps(settings_to_dict(settings)))
    assert settings_from_dict(stored) == settings


def test_scoring_fields_lock_what_changes_a_level_or_score() -> None:
    assert SCORING_FIELDS == {
        "dimension_id", "top_level", "target_level", "knowledge_check", "self_assessment",
        "review_required", "pass_mark_percent",
    }
