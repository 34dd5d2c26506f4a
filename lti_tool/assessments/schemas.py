"""marshmallow schemas for the content files: the CASE 1.1 framework package and the
question banks. They check shape and types field by field (unknown fields are refused, so
a misspelt optional field is caught); the cross-references (parents, indicators, keys
against formats) are checked by :mod:`lti_tool.assessments.content`, which turns every
error into a :class:`~lti_tool.assessments.content.ContentError`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from .questions import ItemFormat


class StrictInteger(fields.Integer):
    """An integer in the JSON: no strings, no 2.0, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)


def not_blank(value: str) -> None:
    """Refuse empty or whitespace-only text, and text with spaces around it (content is
    shown verbatim, and stray spaces break comparisons with the source)."""
    if not value.strip():
        raise ValidationError("Must not be blank.")
    if value != value.strip():
        raise ValidationError("Must not start or end with spaces.")


def is_uuid(value: str) -> None:
    """CASE identifiers are UUIDs (stable between releases)."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValidationError("Not a valid UUID.") from None


def is_datetime(value: str) -> None:
    """An ISO 8601 date-time such as 2026-11-27T00:00:00+00:00."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("Not a valid ISO 8601 date-time.") from None


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class LinkURISchema(_Strict):
    """A CASE LinkURI: a reference to another CASE object."""

    title = fields.String(required=True)
    identifier = fields.String(required=True, validate=is_uuid)
    uri = fields.String(required=True)


def _text(**kwargs: Any) -> fields.String:
    return fields.String(validate=not_blank, **kwargs)


class CFDocumentSchema(_Strict):
    """A CASE 1.1 CFDocument; ``version`` is required here (attempts pin it)."""

    identifier = fields.String(required=True, validate=is_uuid)
    uri = fields.String(required=True)
    creator = _text(required=True)
    title = _text(required=True)
    lastChangeDateTime = fields.String(required=True, validate=is_datetime)
    version = _text(required=True)
    officialSourceURL = fields.String()
    publisher = fields.String()
    description = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = fields.String()
    adoptionStatus = fields.String()
    statusStartDate = fields.String()
    statusEndDate = fields.String()
    licenseURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    CFPackageURI = fields.Nested(LinkURISchema)
    frameworkType = fields.String()
    caseVersion = fields.String()
    extensions = fields.Dict()


#: The CFItemTypes the tool understands, from top to bottom.
ITEM_TYPES = ("Dimension", "Level", "Indicator")


class CFItemSchema(_Strict):
    """A CASE 1.1 CFItem of type Dimension, Level or Indicator."""

    identifier = fields.String(required=True, validate=is_uuid)
    uri = fields.String(required=True)
    fullStatement = _text(required=True)
    humanCodingScheme = _text(required=True)
    CFItemType = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES))
    lastChangeDateTime = fields.String(required=True, validate=is_datetime)
    CFDocumentURI = fields.Nested(LinkURISchema)
    abbreviatedStatement = _text()
    listEnumeration = fields.String()
    alternativeLabel = fields.String()
    conceptKeywords = fields.List(fields.String())
    conceptKeywordsURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = fields.String()
    educationLevel = fields.List(fields.String())
    CFItemTypeURI = fields.Nested(LinkURISchema)
    licenseURI = fields.Nested(LinkURISchema)
    statusStartDate = fields.String()
    statusEndDate = fields.String()
    extensions = fields.Dict()


#: CASE 1.1 association types.
ASSOCIATION_TYPES = (
    "isChildOf",
    "isPeerOf",
    "isPartOf",
    "exactMatchOf",
    "precedes",
    "isRelatedTo",
    "replacedBy",
    "exemplar",
    "hasSkillLevel",
)


class CFAssociationSchema(_Strict):
    """A CASE 1.1 CFAssociation."""

    identifier = fields.String(required=True, validate=is_uuid)
    uri = fields.String(required=True)
    associationType = fields.String(
        required=True, validate=validate.OneOf(ASSOCIATION_TYPES)
    )
    originNodeURI = fields.Nested(LinkURISchema, required=True)
    destinationNodeURI = fields.Nested(LinkURISchema, required=True)
    lastChangeDateTime = fields.String(required=True, validate=is_datetime)
    sequenceNumber = StrictInteger(validate=validate.Range(min=1))
    CFDocumentURI = fields.Nested(LinkURISchema)
    CFAssociationGroupingURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    extensions = fields.Dict()


class RatingPointSchema(_Strict):
    """One point of the rating scale."""

    value = StrictInteger(required=True)
    label = _text(required=True)


def _scale_is_0_1_2(points: list[dict[str, Any]]) -> None:
    # The attempt and the rules use 0/1/2 ("2" = consistently met); a file may relabel the
    # points but not change them.
    if [p["value"] for p in points] != [0, 1, 2]:
        raise ValidationError("The rating scale must have the values 0, 1, 2 in order.")


class ToolRulesSchema(_Strict):
    """``extensions.lti_tool``: the tool's own rules."""

    schemaVersion = StrictInteger(required=True, validate=validate.Equal(1))
    levelRule = fields.String(
        required=True, validate=validate.OneOf(["conjunctive-cumulative"])
    )
    ratingScale = fields.List(
        fields.Nested(RatingPointSchema), required=True, validate=_scale_is_0_1_2
    )
    defaultPassMarkPercent = StrictInteger(
        required=True, validate=validate.Range(min=1, max=100)
    )


class ExtensionsSchema(Schema):
    """The package's ``extensions``: ``lti_tool`` is ours; other namespaces are kept."""

    class Meta:
        unknown = INCLUDE

    lti_tool = fields.Nested(ToolRulesSchema)


class CFPackageSchema(_Strict):
    """A CASE 1.1 package (the framework file)."""

    CFDocument = fields.Nested(CFDocumentSchema, required=True)
    CFItems = fields.List(fields.Nested(CFItemSchema), required=True)
    CFAssociations = fields.List(fields.Nested(CFAssociationSchema), required=True)
    CFDefinitions = fields.Dict()
    CFRubrics = fields.List(fields.Dict())
    extensions = fields.Nested(ExtensionsSchema)


# -- question banks ----------------------------------------------------------------------


class BankInfoSchema(_Strict):
    """The ``bank`` object of a question bank file."""

    identifier = _text(required=True)
    title = _text(required=True)
    version = _text(required=True)
    framework = fields.String(required=True, validate=is_uuid)
    language = _text(required=True)


class OptionSchema(_Strict):
    """One option; which key it carries depends on its item's format."""

    identifier = _text(required=True)
    text = _text(required=True)
    feedback = _text(required=True)
    score = StrictInteger(validate=validate.Range(min=0))
    keyRank = StrictInteger(validate=validate.Range(min=1))
    keyRating = StrictInteger(validate=validate.Range(min=1, max=4))


class ItemSchema(_Strict):
    """One situational-judgement item."""

    identifier = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9.-]+\Z", error="Use only letters, digits, '.' and '-'."
        ),
    )
    indicator = fields.String(required=True)
    format = fields.String(
        required=True, validate=validate.OneOf([f.value for f in ItemFormat])
    )
    setting = _text(required=True)
    scenario = _text(required=True)
    prompt = _text(required=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)


class QuestionBankSchema(_Strict):
    """A question bank file (content/assessments/*.json)."""

    bank = fields.Nested(BankInfoSchema, required=True)
    items = fields.List(
        fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1)
    )
