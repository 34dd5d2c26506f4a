"""Educator views: the activity dashboard, the review screen, history, CSV export, grade
delivery ("send again"), roster sync, and the course-level list of activities.

Who may see what is decided here, on the server, for every view and form:

- Instructors and teaching assistants reach the activity of their launch's resource link
  in their own course. A Canvas course-navigation launch (``placement`` =
  ``course_navigation``) is course-level: it may open any activity of its course, named
  by its public id in the ``activity`` parameter.
- A Mentor reaches only the learners whose subs the launch's ``role_scope_mentor``
  names; anyone else's attempt is "not found" (404), as is any attempt of another
  course, resource link or registration, so nobody learns that it exists.
- Learners (and anyone without an educator or mentor context role) are refused (403).
- Every POST carries the launch session's CSRF token (checked by ``launch_view``).

Views translate HTTP to service calls and back; the queries live in
``services.cohort`` and every change goes through ``services.attempts``,
``services.grades`` or ``services.roster`` (one commit, after the view).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
)

from lti_tool import assessments
from lti_tool.persistence import models
from lti_tool.runtime import current_runtime
from lti_tool.services import activities, attempts, cohort, grades, roster
from lti_tool.web import abort_with, db
from lti_tool.web.security import launch_view, url_for_launch

bp = Blueprint("educator", __name__, url_prefix="/educator")

PER_PAGE = 50
COURSE_NAVIGATION = "course_navigation"
#: Filter and paging parameters carried through forms and redirects back to the dashboard.
DASHBOARD_ARGS = ("status", "needs_review", "level", "q", "page")

#: Messages shown after a redirect, chosen by a code in the URL (never text from the URL).
NOTICES = {
    "saved": ("success", "Your ratings and comments are saved."),
    "returned": ("success", "The attempt went back to the learner for more evidence. "
                 "They will see your comments."),
    "signed_off": ("success", "Signed off. The level is final and is on its way to the "
                   "gradebook."),
    "overridden": ("success", "The level was changed. The new level is on its way to the "
                   "gradebook."),
    "sent_again": ("success", "The score is queued to be sent to the gradebook again."),
    "nothing_to_send": ("warning", "There is no score to send for this learner yet."),
    "roster_requested": ("success", "The roster will be refreshed from the course in a "
                         "moment. Reload this page to see it."),
}

EVENT_TEXT = {
    "started": "Started the attempt",
    "answer_recorded": "Answered a knowledge-check question",
    "self_rated": "Rated themself",
    "evidence_saved": "Saved an example of their work",
    "evidence_deleted": "Deleted an example",
    "submitted": "Submitted",
    "finalised": "The attempt became final",
    "review_started": "Opened the attempt for review",
    "indicator_rated": "Rated an indicator",
    "reviewer_commented": "Wrote a general comment",
    "returned": "Returned the attempt for more evidence",
    "signed_off": "Signed off",
    "overridden": "Changed the level",
}
#: Learner events that follow each other by the dozen (a page of answers); the history
#: shows a run of them as one line.
GROUPED_EVENTS = frozenset({"answer_recorded", "self_rated", "evidence_saved"})


# -- who and what ---------------------------------------------------------------------------


def _scope() -> frozenset[str] | None:
    """The learners this launch may see: everyone (None) for educators, the mentor's
    scope for a Mentor."""
    if g.launch.is_educator:
        return None
    return frozenset(g.launch.mentor_scope)


def _is_course_placement() -> bool:
    """Whether the launch came from the course's navigation, not from an activity link."""
    return g.launch.claims.get("placement") == COURSE_NAVIGATION


def _is_course_launch() -> bool:
    """A course-level launch: an educator from the course navigation, who may open any
    activity of the course."""
    return bool(g.launch.is_educator and _is_course_placement())


def _context() -> models.LtiContext:
    context = g.launch.context
    if context is None:
        abort_with(404, "no_course",
                   "This launch did not come from a course, so there are no learners to "
                   "show. Open the activity from your course.")
    return context


def _content() -> assessments.Content:
    return current_runtime().content


def _launch_activity() -> models.Activity:
    """The activity the page is about: the launch link's own, or (course-level launches
    only) the one of this course named by ``activity``."""
    context = _context()
    public_id = request.values.get("activity")
    if public_id:
        activity = None
        if _is_course_launch():
            activity = activities.find_by_public_id(db(), g.launch.registration, public_id)
        if activity is None or activity.context_pk != context.id:
            abort_with(404, "not_found", "There is no such activity in this course.")
        return activity
    if _is_course_placement():
        # The course navigation's link is no activity: never give it settings of its own.
        abort_with(404, "no_activity", "Choose an activity from the course's list.")
    try:
        activity = activities.activity_for_launch(db(), _content(), g.launch)
    except activities.ActivityServiceError as error:
        abort_with(409, error.code, error.message)
    if activity is None:
        abort_with(404, "no_activity",
                   "This launch is not linked to an activity. Open the activity from your "
                   "course.")
    return activity


def _reachable_activity_pks() -> list[int]:
    if _is_course_launch():
        return [a.id for a in activities.course_activities(db(), _context())]
    return [_launch_activity().id]


def _visible_attempt(attempt_id: int) -> models.Attempt:
    row = cohort.visible_attempt(
        db(), attempt_id, registration_id=g.launch.registration.id,
        activity_pks=_reachable_activity_pks(), scope=_scope())
    if row is None:
        abort_with(404, "not_found", "There is no such attempt for you to see.")
    return row


def _activity_args(activity: models.Activity) -> dict[str, str]:
    """Keeps a course-level launch's choice of activity in links and forms."""
    return {"activity": activity.public_id} if _is_course_launch() else {}


def _dashboard_url(activity: models.Activity, notice: str | None = None,
                   args: dict[str, str] | None = None) -> str:
    values = {**_activity_args(activity), **(args or {})}
    if notice:
        values["notice"] = notice
    return url_for_launch("educator.dashboard", **values)


def _kept_dashboard_args() -> dict[str, str]:
    """The dashboard's filters and page, carried through a form so a redirect returns to
    the same view."""
    kept = {}
    for name in DASHBOARD_ARGS:
        value = request.values.get(name)
        if value and len(value) <= 100:
            kept[name] = value
    return kept


def _notice() -> tuple[str, str] | None:
    return NOTICES.get(request.args.get("notice", ""))


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else 1


def _settings_url() -> str | None:
    """Where the educator edits the activity's settings (the activity blueprint)."""
    if not g.launch.is_educator or _is_course_launch():
        return None
    if "activity.settings" not in current_app.view_functions:
        return None
    return url_for_launch("activity.settings")


def _settings_summary(activity: models.Activity) -> dict[str, Any]:
    settings = cohort.activity_settings(activity)
    framework = _content().framework
    dimension = framework.dimension(settings.dimension_id)
    top = min(settings.top_level, dimension.top_level)
    judgements = [name for on, name in (
        (settings.knowledge_check, "knowledge check"),
        (settings.self_assessment, "self-assessment with evidence"),
        (settings.review_required, "review by an educator"),
    ) if on]
    return {
        "dimension": dimension,
        "levels": f"Levels 1 to {top}" if top > 1 else "Level 1",
        "target": dimension.level(settings.target_level).title
        if 1 <= settings.target_level <= dimension.top_level else str(settings.target_level),
        "judgements": judgements,
        "pass_mark": settings.pass_mark_percent if settings.knowledge_check else None,
        "review_required": settings.review_required,
        "new_attempts": settings.new_attempts_allowed,
        "top_level": top,
    }


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_labels": cohort.STATUS_LABELS, "cell_labels": cohort.CELL_LABELS}


# -- dashboard ------------------------------------------------------------------------------


@bp.get("/")
@launch_view("educator", "mentor")
def dashboard():
    """The activity's cohort: roster merged with attempts, the review queue, the heatmap."""
    if _is_course_launch() and not request.args.get("activity"):
        return redirect(url_for_launch("educator.course"), code=303)
    activity = _launch_activity()
    context = _context()
    content = _content()
    scope = _scope()
    filters = cohort.CohortFilters.from_args(request.args)
    page = cohort.learner_page(db(), content, activity, filters=filters, scope=scope,
                               page=_page_number(), per_page=PER_PAGE)
    queue = cohort.review_queue(db(), activity, scope=scope)
    deliveries = grades.delivery_states(db(), activity)
    roster_state = None
    if context.memberships_url:
        # Pages read the stored roster; a stale one is refreshed in the background.
        roster_state = roster.request_roster_sync_if_stale(db(), context)
    indicators = cohort.assessed_indicators(content, activity)
    summary = _settings_summary(activity)
    return render_template(
        "educator/dashboard.html",
        activity=activity,
        summary=summary,
        settings_url=_settings_url(),
        page=page,
        filters=filters,
        queue=queue,
        deliveries=deliveries,
        no_delivery=grades.NO_DELIVERY,
        roster_state=roster_state,
        delivery_running=grades.delivery_running(current_runtime().store),
        indicators=indicators,
        heat_totals=cohort.counts_by_state(page.rows),
        notice=_notice(),
        activity_args=_activity_args(activity),
        keep_args={**_activity_args(activity), **filters.as_args(), "page": str(page.page)},
        is_mentor=not g.launch.is_educator,
        levels=range(0, summary["top_level"] + 1),
        statuses=cohort.STATUSES,
        page_url=lambda n: _dashboard_url(activity, args={**filters.as_args(),
                                                          "page": str(n)}),
    )


@bp.get("/export.csv")
@launch_view("educator", "mentor")
def export_csv():
    """Every learner in scope as CSV (one row each), safe to open in a spreadsheet."""
    activity = _launch_activity()
    buffer = io.StringIO()
    # A BOM so spreadsheet programs read the names as UTF-8.
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in cohort.export_rows(db(), _content(), activity, scope=_scope()):
        writer.writerow(row)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", activity.title or "activity").strip("-")[:60]
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{slug or "activity"}-learners.csv"')
    return response


@bp.post("/learners/<int:user_pk>/send-again")
@launch_view("educator")
def send_again(user_pk: int):
    """Queue a learner's latest score for the gradebook again (after a failure)."""
    activity = _launch_activity()
    if cohort.visible_learner(db(), activity, user_pk, scope=_scope()) is None:
        abort_with(404, "not_found", "There is no such learner in this activity.")
    queued = grades.send_again(db(), activity, user_pk)
    notice = "sent_again" if queued is not None else "nothing_to_send"
    return redirect(_dashboard_url(activity, notice, _kept_dashboard_args()), code=303)


@bp.post("/roster/sync")
@launch_view("educator")
def sync_roster():
    """Ask for the course roster to be refreshed from the platform now."""
    # From the course list (no activity chosen) the request is about the course alone.
    course_level = _is_course_launch() and not request.values.get("activity")
    activity = None if course_level else _launch_activity()
    context = _context()
    if not context.memberships_url:
        abort_with(409, "roster_unavailable",
                   "The course does not share its roster with this tool. Learners appear "
                   "when they open the activity.")
    roster.request_roster_sync(db(), context)
    if activity is None:
        return redirect(url_for_launch("educator.course", notice="roster_requested"),
                        code=303)
    return redirect(_dashboard_url(activity, "roster_requested", _kept_dashboard_args()),
                    code=303)


# -- course ---------------------------------------------------------------------------------


@bp.get("/course")
@launch_view("educator")
def course():
    """Every activity of the course with how far its learners got (course navigation)."""
    context = _context()
    course_launch = _is_course_launch()
    link_pk = g.launch.resource_link.id if g.launch.resource_link else None
    summaries = cohort.course_summaries(db(), activities.course_activities(db(), context))
    rows = []
    for summary in summaries:
        activity = summary.activity
        url = None
        if course_launch:
            url = url_for_launch("educator.dashboard", activity=activity.public_id)
        elif link_pk is not None and activity.resource_link_pk == link_pk:
            url = url_for_launch("educator.dashboard")
        rows.append((summary, url, _settings_summary(activity)))
    roster_state = None
    if context.memberships_url:
        roster_state = roster.request_roster_sync_if_stale(db(), context)
    return render_template(
        "educator/course.html",
        context=context,
        rows=rows,
        roster_learners=cohort.roster_learner_count(db(), context),
        roster_state=roster_state,
        notice=_notice(),
    )


# -- review ---------------------------------------------------------------------------------


@dataclass
class ReviewInput:
    """What the reviewer typed, kept to show again when a save is refused."""

    ratings: dict[str, str] = field(default_factory=dict)     # indicator id -> "0".."2"
    comments: dict[str, str] = field(default_factory=dict)    # indicator id -> comment
    general_comment: str | None = None
    override_level: str = ""
    override_reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)      # field name -> message

    @classmethod
    def from_form(cls, indicator_ids: list[str]) -> ReviewInput:
        form = request.form
        typed = cls(general_comment=form.get("general_comment"),
                    override_level=form.get("override_level", ""),
                    override_reason=form.get("override_reason", ""))
        for indicator_id in indicator_ids:
            typed.ratings[indicator_id] = form.get(f"rating-{indicator_id}", "")
            typed.comments[indicator_id] = form.get(f"comment-{indicator_id}", "")
        return typed

    def rated(self) -> dict[str, tuple[int, str]]:
        """The ratings to save (indicator id -> (rating, comment)); unrated ones are left
        out (a comment without a rating is an error the form reports)."""
        chosen: dict[str, tuple[int, str]] = {}
        for indicator_id, value in self.ratings.items():
            comment = self.comments.get(indicator_id, "").strip()
            if value in {"0", "1", "2"}:
                chosen[indicator_id] = (int(value), comment)
            elif value:
                self.errors[f"rating-{indicator_id}"] = "Choose 0, 1 or 2."
            elif comment:
                self.errors[f"rating-{indicator_id}"] = (
                    "Choose a rating to go with your comment.")
            if len(comment) > attempts.COMMENT_MAX:
                self.errors[f"comment-{indicator_id}"] = (
                    f"Shorten this comment to {attempts.COMMENT_MAX:,} characters or fewer.")
        if self.general_comment is not None and len(self.general_comment) > \
                attempts.COMMENT_MAX:
            self.errors["general_comment"] = (
                f"Shorten the general comment to {attempts.COMMENT_MAX:,} characters or fewer.")
        return chosen


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if re.fullmatch(r"[0-9]{1,9}", raw) else None


def _assessed(row: models.Attempt, domain: assessments.Attempt):
    framework = _content().framework
    settings = domain.settings
    dimension = framework.dimension(settings.dimension_id)
    return dimension, dimension.indicators_up_to(min(settings.top_level, dimension.top_level))


def _event_rows(events: list[models.AttemptEvent]) -> list[dict[str, Any]]:
    framework = _content().framework
    rows = []
    for event in events:
        detail = event.detail or {}
        text = EVENT_TEXT.get(event.kind, event.kind.replace("_", " ").capitalize())
        extra = []
        indicator_id = detail.get("indicator_id")
        if indicator_id and framework.has_indicator(indicator_id):
            extra.append(framework.indicator(indicator_id).code)
        rating = detail.get("rating")
        if isinstance(rating, int) and not isinstance(rating, bool):
            try:
                extra.append(framework.rules.rating_label(rating))
            except KeyError:
                extra.append(str(rating))
        if event.kind == "overridden" and "level" in detail:
            extra.append(f"level {detail['level']}")
        note = detail.get("comment") or detail.get("reason") or ""
        who = event.actor_name or "Someone"
        previous = rows[-1] if rows else None
        if (event.kind in GROUPED_EVENTS and previous is not None
                and previous["kind"] == event.kind and previous["who"] == who):
            # A learner's page of answers is dozens of events: one line says it better.
            previous["times"] += 1
            previous["extra"] = f"{previous['times']} times"
            previous["at"] = event.at
            continue
        rows.append({"at": event.at, "who": who, "what": text, "extra": ", ".join(extra),
                     "note": note, "kind": event.kind, "times": 1})
    return rows


def _render_review(row: models.Attempt, typed: ReviewInput | None = None, *,
                   status: int = 200, problem: str | None = None):
    content = _content()
    domain = attempts.domain_attempt(row)
    result = attempts.result_of(content, row)
    dimension, indicators = _assessed(row, domain)
    learner = db().get(models.LtiUser, row.user_pk)
    activity = db().get(models.Activity, row.activity_pk)
    evidence = list(domain.evidence.values())
    evidence_numbers = {e.identifier: n for n, e in enumerate(evidence, start=1)}
    history = _event_rows(attempts.history(db(), row))
    levels = [(level, [i for i in indicators if i.level_number == level.number])
              for level in dimension.levels if level.number <= result.top_level]
    html = render_template(
        "educator/review.html",
        row=row,
        attempt=domain,
        result=result,
        learner=learner,
        activity=activity,
        levels=levels,
        outcomes={o.indicator.identifier: o for o in result.outcomes},
        evidence=evidence,
        evidence_numbers=evidence_numbers,
        rating_scale=content.framework.rules.rating_scale,
        rating_label=content.framework.rules.rating_label,
        history=history[-10:],
        history_count=len(history),
        typed=typed or ReviewInput(),
        problem=problem,
        notice=_notice(),
        can_rate=domain.status is assessments.AttemptStatus.IN_REVIEW,
        can_override=domain.is_final and g.launch.is_educator,
        override_levels=range(0, domain.settings.top_level + 1),
        dimension=dimension,
        activity_args=_activity_args(activity),
        dashboard_url=_dashboard_url(activity),
    )
    return html, status


@bp.route("/attempts/<int:attempt_id>/review", methods=["GET", "POST"])
@launch_view("educator", "mentor")
def review(attempt_id: int):
    """Rate each indicator, comment, return, sign off or override one attempt. Opening a
    submitted attempt starts its review."""
    row = _visible_attempt(attempt_id)
    content = _content()
    reviewer = g.launch.user
    if request.method == "GET":
        if row.status == assessments.AttemptStatus.SUBMITTED.value:
            try:
                attempts.start_review(db(), content, row, reviewer=reviewer)
            except attempts.StaleAttempt:
                db().rollback()  # another reviewer opened it at the same moment
                row = _visible_attempt(attempt_id)
        return _render_review(row)

    action = request.form.get("action", "")
    if action not in {"save", "return", "sign_off", "override"}:
        abort_with(400, "bad_request", "Choose what to do with this attempt.")
    if action == "override" and not g.launch.is_educator:
        abort_with(403, "forbidden_role", "Only educators can change a level.")
    domain = attempts.domain_attempt(row)
    _, indicators = _assessed(row, domain)
    typed = ReviewInput.from_form([i.identifier for i in indicators])
    expected = _version()
    try:
        if action == "override":
            level = typed.override_level
            reason = typed.override_reason.strip()
            if (not re.fullmatch(r"[0-9]{1,2}", level)
                    or not 0 <= int(level) <= domain.settings.top_level):
                typed.errors["override_level"] = "Choose the level to set."
            if not reason:
                typed.errors["override_reason"] = "Give the reason for changing the level."
            elif len(reason) > attempts.COMMENT_MAX:
                typed.errors["override_reason"] = (
                    f"Shorten the reason to {attempts.COMMENT_MAX:,} characters or fewer.")
            if typed.errors:
                return _invalid(row, typed)
            attempts.override_level(db(), content, row, expected, level=int(level),
                                    reason=reason, reviewer=reviewer)
            return redirect(_review_url(row, "overridden"), code=303)

        ratings = typed.rated()
        general = typed.general_comment
        if action == "return" and not (general or "").strip():
            typed.errors["general_comment"] = (
                "Write what more evidence the learner should add: they will see it.")
        if typed.errors:
            return _invalid(row, typed)
        if action == "return":
            # The general comment travels with the return (one history entry says why).
            attempts.save_review(db(), content, row, expected, ratings=ratings,
                                 general_comment=None, reviewer=reviewer)
            attempts.return_to_learner(db(), content, row, row.version,
                                       comment=general.strip(), reviewer=reviewer)
            return redirect(_dashboard_url(row.activity, "returned"), code=303)
        attempts.save_review(db(), content, row, expected, ratings=ratings,
                             general_comment=general, reviewer=reviewer)
        if action == "sign_off":
            attempts.sign_off(db(), content, row, row.version, reviewer=reviewer)
            return redirect(_dashboard_url(row.activity, "signed_off"), code=303)
        return redirect(_review_url(row, "saved"), code=303)
    except attempts.StaleAttempt:
        return _refused(attempt_id, typed, 409,
                        "Someone else saved this attempt after you opened it (another "
                        "reviewer, or you in another tab). Nothing of yours was saved yet: "
                        "check the attempt as it is now, below, then save again. What you "
                        "typed is still in the form.")
    except attempts.AttemptServiceError as error:
        status = 409 if error.code in {"illegal_transition", "attempt_locked"} else 400
        return _refused(attempt_id, typed, status, error.message)


def _review_url(row: models.Attempt, notice: str | None = None) -> str:
    values = dict(_activity_args(row.activity))
    if notice:
        values["notice"] = notice
    return url_for_launch("educator.review", attempt_id=row.id, **values)


def _invalid(row: models.Attempt, typed: ReviewInput):
    return _render_review(row, typed, status=400,
                          problem="Some of what you entered needs a change; see below.")


def _refused(attempt_id: int, typed: ReviewInput, status: int, message: str):
    # Whatever this request changed is undone; show the attempt as it now stands.
    db().rollback()
    row = db().get(models.Attempt, attempt_id, populate_existing=True)
    if row is None:
        abort_with(404, "not_found", "This attempt no longer exists.")
    return _render_review(row, typed, status=status, problem=message)


@bp.get("/attempts/<int:attempt_id>/history")
@launch_view("educator", "mentor")
def history(attempt_id: int):
    """Everything that happened to an attempt (who, when, what), and the learner's other
    attempts at the activity."""
    row = _visible_attempt(attempt_id)
    activity = db().get(models.Activity, row.activity_pk)
    learner = db().get(models.LtiUser, row.user_pk)
    return render_template(
        "educator/history.html",
        row=row,
        learner=learner,
        activity=activity,
        events=_event_rows(attempts.history(db(), row)),
        others=cohort.learner_attempts(db(), activity, row.user_pk),
        activity_args=_activity_args(activity),
        dashboard_url=_dashboard_url(activity),
    )
