"""Activities: the stored settings of an assessment for one resource link.

Settings belong to (registration, context, resource link). A link added by deep linking
carries ``custom.activity_id`` = the activity's public id, and its first launch binds the
activity to the link. A link without settings (added by hand) gets defaults an educator
can edit. An activity id carried in from another context or link (course copy, backup
and restore, a duplicated activity) only seeds a copy of its settings: a launch from one
course never reaches another course's activity or attempts.

Settings that change scoring lock once an attempt pinned to the current settings version
is submitted; saving "as a new version" bumps ``settings_version`` and applies to attempts
started from then on (attempts keep the settings they started with).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool import assessments
from lti_tool.persistence import models, utcnow

log = logging.getLogger("lti_tool.activities")

#: The custom parameter deep-linked links carry (``custom.activity_id``).
ACTIVITY_ID_PARAM = "activity_id"


class LaunchLike(Protocol):
    """What this module reads from a launch (``web.security.LaunchContext`` has it)."""

    registration: models.Registration
    context: models.LtiContext | None
    resource_link: models.ResourceLink | None
    claims: dict[str, Any]


class ActivityServiceError(Exception):
    """A refused change. ``code`` is stable; ``errors`` maps form fields to messages."""

    def __init__(self, code: str, message: str,
                 errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors: dict[str, list[str]] = dict(errors or {})


def new_public_id() -> str:
    """An unguessable, URL-safe public id for an activity."""
    return "act-" + secrets.token_hex(12)


def settings_of(activity: models.Activity) -> assessments.ActivitySettings:
    """The activity's current settings."""
    return assessments.settings_from_dict(activity.settings)


def course_activities(db: Session, context: models.LtiContext) -> list[models.Activity]:
    """The activities of a course, oldest first."""
    return list(db.scalars(
        select(models.Activity)
        .where(models.Activity.context_pk == context.id,
               models.Activity.registration_id == context.registration_id)
        .order_by(models.Activity.created_at, models.Activity.id)
    ))


def find_by_public_id(
    db: Session, registration: models.Registration, public_id: str
) -> models.Activity | None:
    """The activity with this public id within one registration, if any."""
    if not public_id or len(public_id) > 64:
        return None
    return db.scalars(select(models.Activity).where(
        models.Activity.public_id == public_id,
        models.Activity.registration_id == registration.id,
    )).first()


def _custom_activity_id(launch: LaunchLike) -> str | None:
    custom = (launch.claims or {}).get("custom") or {}
    value = custom.get(ACTIVITY_ID_PARAM) if isinstance(custom, Mapping) else None
    # An unsubstituted variable ("$...") or anything odd is no activity id.
    if isinstance(value, str) and value and not value.startswith("$"):
        return value.strip()
    return None


def _new_activity(
    launch: LaunchLike, settings: assessments.ActivitySettings, *,
    bind: bool, seeded_from: str | None = None,
) -> models.Activity:
    now = utcnow()
    return models.Activity(
        public_id=new_public_id(),
        registration_id=launch.registration.id,
        context_pk=launch.context.id,  # type: ignore[union-attr]
        resource_link_pk=launch.resource_link.id if bind and launch.resource_link else None,
        title=settings.title,
        settings=assessments.settings_to_dict(settings),
        settings_version=1,
        seeded_from=seeded_from,
        created_at=now,
        updated_at=now,
    )


def activity_for_launch(
    db: Session, content: assessments.Content, launch: LaunchLike
) -> models.Activity | None:
    """The activity of the launch's resource link, created on its first launch.

    ``None`` when the launch has no course or no resource link (nothing to attach
    settings to). Order: the link's own activity; else the deep-linked activity named by
    ``custom.activity_id`` if it belongs to this course and no link has it yet; else a
    copy seeded from that activity (another course or link); else defaults.
    """
    context, link = launch.context, launch.resource_link
    if context is None or link is None:
        return None
    if (getattr(launch, "claims", None) or {}).get("placement") == "course_navigation":
        return None  # the course menu link lists activities; it is not one itself
    if context.registration_id != launch.registration.id or link.context_pk != context.id:
        return None  # a guard: the launch's rows always agree; never cross them
    own = db.scalars(select(models.Activity).where(
        models.Activity.resource_link_pk == link.id,
        models.Activity.context_pk == context.id,
        models.Activity.registration_id == launch.registration.id,
    )).first()
    if own is not None:
        return own

    source = None
    public_id = _custom_activity_id(launch)
    if public_id:
        source = find_by_public_id(db, launch.registration, public_id)
        if source is None:
            log.info("launch names unknown activity id; using defaults")
    if source is not None and source.context_pk == context.id and source.resource_link_pk is None:
        source.resource_link_pk = link.id
        source.updated_at = utcnow()
        activity = source
    elif source is not None:
        seeded = settings_of(source)
        activity = _new_activity(launch, seeded, bind=True, seeded_from=source.public_id)
        db.add(activity)
    else:
        settings = assessments.default_settings(content.framework)
        if link.title:
            settings = _with_title(settings, link.title)
        activity = _new_activity(launch, settings, bind=True)
        db.add(activity)
    try:
        db.flush()
    except IntegrityError:
        # Two first launches of one link at the same moment: the other one created it.
        raise ActivityServiceError(
            "activity_busy", "This activity was being set up at the same moment. Open it "
            "again from your course.") from None
    return activity


def _with_title(settings: assessments.ActivitySettings,
                title: str) -> assessments.ActivitySettings:
    import dataclasses

    return dataclasses.replace(settings, title=title.strip()[:200] or settings.title)


def load_settings_form(
    content: assessments.Content, form: Mapping[str, Any]
) -> assessments.ActivitySettings:
    """Validate a settings form (extra fields such as ``csrf_token`` are ignored).
    Raises ``ActivityServiceError("settings_invalid")`` with ``errors`` by field."""
    schema = assessments.ActivitySettingsSchema(framework=content.framework)
    data = {name: form.get(name) for name in schema.fields if form.get(name) is not None}
    for name in ("top_level", "pass_mark_percent", "dimension_id"):
        if data.get(name) == "":
            data.pop(name)
    try:
        return schema.load(data)
    except ValidationError as error:
        errors = _messages(error)
    # marshmallow skips the cross-field checks when a field fails; run them again without
    # the failing fields so the educator sees every problem at once, not one per save.
    retry = {k: v for k, v in data.items() if k not in errors}
    if "target_level" in errors:
        retry["target_level"] = "1"
    try:
        schema.load(retry)
    except ValidationError as error:
        for key, value in _messages(error).items():
            if key not in errors and not (key == "target_level" and "target_level" in errors):
                errors[key] = value
    raise ActivityServiceError("settings_invalid", "Some settings need changing.", errors)


def _messages(error: ValidationError) -> dict[str, list[str]]:
    messages = error.messages if isinstance(error.messages, dict) else {
        "_schema": error.messages}
    return {key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in messages.items()}


def create_activity(
    db: Session, content: assessments.Content, launch: LaunchLike,
    form: Mapping[str, Any], *, actor: models.LtiUser,
) -> models.Activity:
    """A new activity for a deep-linking request (bound to its link on the link's first
    launch, through ``custom.activity_id``)."""
    if launch.context is None:
        raise ActivityServiceError(
            "context_required", "Activities can only be added inside a course.")
    settings = load_settings_form(content, form)
    activity = _new_activity(launch, settings, bind=False)
    db.add(activity)
    db.flush()
    log.info("activity %s created by user %s", activity.public_id, actor.id)
    return activity


def is_locked(db: Session, activity: models.Activity) -> bool:
    """Whether scoring settings are locked: an attempt pinned to the current settings
    version has been submitted."""
    return submitted_count(db, activity) > 0


def submitted_count(db: Session, activity: models.Activity) -> int:
    """How many submitted attempts use the activity's current settings version."""
    states = db.scalars(select(models.Attempt.state).where(
        models.Attempt.activity_pk == activity.id,
        models.Attempt.submitted_at.is_not(None),
    ))
    return sum(1 for state in states
               if int((state or {}).get("settings_version") or 1) == activity.settings_version)


def attempt_count(db: Session, activity: models.Activity) -> int:
    """How many attempts the activity has (any status)."""
    return db.scalar(select(func.count()).select_from(models.Attempt).where(
        models.Attempt.activity_pk == activity.id)) or 0


def update_settings(
    db: Session, content: assessments.Content, activity: models.Activity,
    form: Mapping[str, Any], *, actor: models.LtiUser, as_new_version: bool = False,
) -> models.Activity:
    """Save an educator's settings form.

    Raises ``ActivityServiceError`` with code ``settings_invalid`` (``errors`` by field) or
    ``settings_locked`` (``errors`` names the locked fields that changed) when a scoring
    setting changes after an attempt was submitted, unless ``as_new_version``: then the
    settings version goes up and only attempts started from now on use the new settings.
    """
    new = load_settings_form(content, form)
    current = settings_of(activity)
    changed = sorted(f for f in assessments.SCORING_FIELDS
                     if getattr(new, f) != getattr(current, f))
    if changed and not as_new_version and is_locked(db, activity):
        raise ActivityServiceError(
            "settings_locked",
            "Learners have submitted attempts under these settings, so the settings that "
            "decide their level cannot change. Save them as a new version instead: it "
            "applies to attempts started from now on.",
            {name: ["Locked: attempts were submitted under the current value."]
             for name in changed},
        )
    activity.settings = assessments.settings_to_dict(new)
    activity.title = new.title
    if changed:
        activity.settings_version = activity.settings_version + 1
    activity.updated_at = utcnow()
    db.flush()
    log.info("activity %s settings saved by user %s (version %s)",
             activity.public_id, actor.id, activity.settings_version)
    return activity
