"""Activity pages for educators: the deep-linking settings page and the settings editor.

``activity.deep_link`` answers an ``LtiDeepLinkingRequest``: the educator chooses the
settings, the tool stores a new activity and answers the platform with a signed
``LtiDeepLinkingResponse`` posted by the browser (an auto-submitting form, with a button
for browsers without JavaScript). ``activity.settings`` edits the settings of the launch's
activity; scoring settings lock once an attempt is submitted, with "save as a new version".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request

from lti_tool import assessments
from lti_tool.lti.deep_linking import LineItem, build_response, resource_link_item
from lti_tool.runtime import current_runtime
from lti_tool.services import activities
from lti_tool.services.activities import ActivityServiceError
from lti_tool.web import abort_with, db
from lti_tool.web.security import launch_view, url_for_launch

bp = Blueprint("activity", __name__, url_prefix="/activity")

DEEP_LINKING = "LtiDeepLinkingRequest"
CHECKBOXES = ("knowledge_check", "self_assessment", "review_required", "new_attempts_allowed")
#: Settings form fields in page order (for the error summary's links).
FIELD_ORDER = ("title", "top_level", "target_level", "judgements", "pass_mark_percent",
               "new_attempts_allowed")
FIELD_LABELS = {
    "title": "Title", "top_level": "Top level assessed", "target_level": "Target level",
    "judgements": "Judgements that count", "knowledge_check": "Knowledge check",
    "self_assessment": "Self-assessment with evidence", "review_required": "Review required",
    "pass_mark_percent": "Knowledge-check pass mark",
    "new_attempts_allowed": "New attempts", "dimension_id": "Dimension",
    "_schema": "Settings",
}


def _content() -> assessments.Content:
    return current_runtime().content


def values_from_settings(settings: assessments.ActivitySettings) -> dict[str, Any]:
    """The form's values for stored settings."""
    return {
        "title": settings.title, "dimension_id": settings.dimension_id,
        "top_level": str(settings.top_level), "target_level": str(settings.target_level),
        "pass_mark_percent": str(settings.pass_mark_percent),
        **{name: bool(getattr(settings, name)) for name in CHECKBOXES},
    }


def values_from_form(form) -> dict[str, Any]:
    """The form's values as the educator sent them (kept on a validation error)."""
    values = {name: form.get(name, "") for name in
              ("title", "dimension_id", "top_level", "target_level", "pass_mark_percent")}
    values.update({name: form.get(name) in {"on", "true", "1", "yes", "y"}
                   for name in CHECKBOXES})
    return values


def _error_list(errors: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(field, label, message) for the error summary, in page order."""
    ordered = sorted(errors, key=lambda f: FIELD_ORDER.index(f) if f in FIELD_ORDER else 99)
    return [(field, FIELD_LABELS.get(field, field), message)
            for field in ordered for message in errors[field]]


def _render_settings_form(template: str, *, status: int = 200, **context: Any):
    framework = _content().framework
    dimension = framework.primary_dimension
    errors = context.pop("errors", {}) or {}
    page = render_template(
        template, dimension=dimension, framework=framework, errors=errors,
        error_list=_error_list(errors), **context)
    return page, status


def _require_deep_linking() -> dict[str, Any]:
    launch = g.launch
    settings = (launch.claims or {}).get("deep_linking_settings")
    if launch.session.message_type != DEEP_LINKING or not settings:
        abort_with(400, "not_deep_linking",
                   "This page answers a request to add an activity from your course. "
                   "Start again from your course's 'add an activity' menu.")
    if launch.context is None:
        abort_with(400, "context_required",
                   "Activities can only be added inside a course.")
    return settings


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@bp.get("/deep-link")
@launch_view("educator")
def deep_link():
    """Settings for a new activity, before it is added to the course."""
    dl_settings = _require_deep_linking()
    settings = assessments.default_settings(_content().framework)
    return _render_settings_form(
        "activity/deep_link.html", values=values_from_settings(settings),
        platform_title=dl_settings.get("title"))


@bp.post("/deep-link")
@launch_view("educator")
def deep_link_submit():
    """Store the activity and answer the platform with the signed response."""
    dl_settings = _require_deep_linking()
    return_url = dl_settings.get("deep_link_return_url") or ""
    origin = _origin(return_url)
    if origin is None:
        abort_with(400, "bad_return_url", "Your course sent no address to return to.")
    content = _content()
    launch = g.launch
    try:
        activity = activities.create_activity(db(), content, launch, request.form,
                                              actor=launch.user)
    except ActivityServiceError as error:
        return _render_settings_form(
            "activity/deep_link.html", status=400, values=values_from_form(request.form),
            errors=error.errors or {"_schema": [error.message]},
            platform_title=dl_settings.get("title"))
    settings = activities.settings_of(activity)
    runtime = current_runtime()
    item = resource_link_item(
        title=activity.title,
        text=f"Levels 1 to {settings.top_level}; target level {settings.target_level}.",
        url=runtime.settings.url("/lti/launch"),
        line_item=LineItem(label=activity.title, score_maximum=settings.top_level,
                           resource_id=activity.public_id),
        custom={activities.ACTIVITY_ID_PARAM: activity.public_id},
    )
    token = build_response(
        signing_key=runtime.keyring.signing_key(db()),
        client_id=launch.registration.client_id,
        platform_issuer=launch.registration.issuer,
        deployment_id=launch.session.deployment_id,
        content_items=[item],
        settings=dl_settings,
        msg=f"Added “{activity.title}”.",
    )
    # The browser posts the response to the platform: CSP form-action must allow it.
    g.extra_form_action = [*getattr(g, "extra_form_action", []), origin]
    return render_template("activity/deep_link_return.html", return_url=return_url,
                           token=token, activity=activity, settings=settings)


def _activity_for_launch():
    try:
        activity = activities.activity_for_launch(db(), _content(), g.launch)
    except ActivityServiceError as error:
        abort_with(409, error.code, error.message)
    if activity is None:
        abort_with(404, "no_activity",
                   "This page belongs to an activity in a course. Open it from the "
                   "activity's link in your course.")
    return activity


def _dashboard_url() -> str | None:
    if "educator.dashboard" in current_app.view_functions:
        return url_for_launch("educator.dashboard")
    return None


@bp.route("/settings", methods=["GET", "POST"])
@launch_view("educator")
def settings():
    """Edit the launch's activity settings (locked scoring settings need a new version)."""
    activity = _activity_for_launch()
    content = _content()
    locked = activities.is_locked(db(), activity)
    context = {
        "activity": activity, "locked": locked,
        "submitted": activities.submitted_count(db(), activity) if locked else 0,
        "dashboard_url": _dashboard_url(),
        "scoring_fields": assessments.SCORING_FIELDS,
    }
    if request.method == "POST":
        as_new_version = request.form.get("action") == "new_version"
        try:
            activities.update_settings(db(), content, activity, request.form,
                                       actor=g.launch.user, as_new_version=as_new_version)
        except ActivityServiceError as error:
            status = 409 if error.code == "settings_locked" else 400
            return _render_settings_form(
                "activity/settings.html", status=status, values=values_from_form(request.form),
                errors=error.errors or {"_schema": [error.message]},
                error_code=error.code, error_message=error.message, **context)
        saved = "new_version" if as_new_version else "saved"
        return redirect(url_for_launch("activity.settings", saved=saved), code=303)
    return _render_settings_form(
        "activity/settings.html", values=values_from_settings(activities.settings_of(activity)),
        saved=request.args.get("saved"), **context)
