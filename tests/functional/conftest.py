"""Fixtures for the functional tests of the educator pages and the authorization matrix.

``World`` arranges rows directly: registrations, courses, links, users, activities,
attempts (built with the domain, as the attempts service stores them) and launch sessions.
The pages after a launch only need a ``LaunchSession`` row and its ``ls`` id, so these
tests exercise authorization and the pages, not the OIDC flow (other tests cover that).
"""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lti_tool import assessments
from lti_tool.persistence import models, utcnow

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
ROLES = {
    "learner": [LIS + "Learner"],
    "instructor": [LIS + "Instructor"],
    "ta": ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
    "mentor": [LIS + "Mentor"],
    "admin_learner": [INSTITUTION + "Administrator", LIS + "Learner"],
}

#: Settings most tests use: review required, so every state of the lifecycle occurs and an
#: indicator is met exactly when the reviewer rated it 2 (no knowledge check to arrange).
REVIEW_SETTINGS = {"knowledge_check": False, "self_assessment": True, "review_required": True,
                   "target_level": 2}


def best_answer(item: assessments.Item) -> assessments.Answer:
    """The answer that scores an item's maximum."""
    fmt = item.format
    options = item.options
    if fmt is assessments.ItemFormat.SINGLE_BEST:
        raw: Any = max(options, key=lambda o: o.score or 0).identifier
    elif fmt is assessments.ItemFormat.CHOOSE_TWO:
        raw = [o.identifier for o in sorted(options, key=lambda o: -(o.score or 0))[:2]]
    elif fmt is assessments.ItemFormat.RANK:
        raw = [o.identifier for o in sorted(options, key=lambda o: o.key_rank or 0)]
    else:
        raw = {o.identifier: o.key_rating for o in options}
    return assessments.parse_answer(item, raw)


@dataclass
class World:
    """Rows for a test, written through one session (committed by ``commit``)."""

    db: Session
    content: assessments.Content
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _n(self) -> int:
        return next(self.counter)

    def commit(self) -> None:
        self.db.commit()

    # -- platform side ---------------------------------------------------------------------

    def registration(self, name: str = "Test LMS", issuer: str | None = None,
                     client_id: str | None = None) -> models.Registration:
        n = self._n()
        row = models.Registration(
            name=name, issuer=issuer or f"https://lms{n}.example.org",
            client_id=client_id or f"client-{n}",
            auth_login_url="https://lms.example.org/auth",
            auth_token_url="https://lms.example.org/token",
            key_set_url="https://lms.example.org/jwks", enabled=True,
            deployment_policy="hold", created_at=utcnow(),
        )
        self.db.add(row)
        self.db.flush()
        return row

    def context(self, registration: models.Registration, title: str = "Course",
                memberships_url: str | None = None) -> models.LtiContext:
        row = models.LtiContext(
            registration_id=registration.id, context_id=f"ctx-{self._n()}", title=title,
            deployment_id="dep-1", memberships_url=memberships_url, updated_at=utcnow(),
        )
        self.db.add(row)
        self.db.flush()
        return row

    def link(self, context: models.LtiContext, title: str = "Assessment") -> models.ResourceLink:
        row = models.ResourceLink(
            context_pk=context.id, resource_link_id=f"rl-{self._n()}", title=title,
            ags_scopes=[], updated_at=utcnow(),
        )
        self.db.add(row)
        self.db.flush()
        return row

    def user(self, registration: models.Registration, name: str | None = None,
             email: str | None = None, sub: str | None = None) -> models.LtiUser:
        row = models.LtiUser(
            registration_id=registration.id, sub=sub or f"sub-{self._n()}-{uuid.uuid4().hex[:6]}",
            name=name, email=email, updated_at=utcnow(),
        )
        self.db.add(row)
        self.db.flush()
        return row

    def roster(self, context: models.LtiContext, sub: str, name: str | None = None,
               email: str | None = None, roles: list[str] | None = None,
               status: str = "Active") -> models.RosterMember:
        row = models.RosterMember(
            context_pk=context.id, user_sub=sub, name=name, email=email,
            roles=roles if roles is not None else ROLES["learner"], status=status,
            synced_at=utcnow(),
        )
        self.db.add(row)
        self.db.flush()
        return row

    def activity(self, context: models.LtiContext, link: models.ResourceLink | None,
                 title: str = "Service improvement", **settings: Any) -> models.Activity:
        base = assessments.default_settings(self.content.framework)
        values = {**assessments.settings_to_dict(base), **REVIEW_SETTINGS, **settings}
        values["title"] = title
        now = utcnow()
        row = models.Activity(
            public_id=uuid.uuid4().hex, registration_id=context.registration_id,
            context_pk=context.id, resource_link_pk=link.id if link else None, title=title,
            settings=values, settings_version=1, created_at=now, updated_at=now,
        )
        self.db.add(row)
        self.db.flush()
        return row

    def launch(self, user: models.LtiUser, context: models.LtiContext | None,
               link: models.ResourceLink | None, role: str | list[str], *,
               scope: list[str] | None = None, placement: str | None = None,
               message_type: str = "LtiResourceLinkRequest", expired: bool = False) -> str:
        """A launch session for ``user`` with ``role`` (a key of ROLES or role URIs)."""
        roles = ROLES[role] if isinstance(role, str) else role
        now = utcnow()
        row = models.LaunchSession(
            id=secrets.token_urlsafe(32), registration_id=user.registration_id,
            deployment_id="dep-1", user_pk=user.id,
            context_pk=context.id if context else None,
            resource_link_pk=link.id if link else None, message_type=message_type,
            roles=roles,
            claims={"role_scope_mentor": scope or [], "placement": placement,
                    "custom": {}, "resource_link": {"id": link.resource_link_id}
                    if link else None},
            created_at=now,
            expires_at=now + (timedelta(seconds=-1) if expired else timedelta(hours=1)),
        )
        self.db.add(row)
        self.db.flush()
        return row.id

    # -- attempts --------------------------------------------------------------------------

    def attempt(self, activity: models.Activity, user: models.LtiUser, status: str = "draft",
                *, ratings: dict[str, int] | None = None, number: int = 1,
                reviewer: models.LtiUser | None = None, evidence: bool = True,
                answers: str | None = None, override: tuple[int, str] | None = None,
                at_offset_minutes: int = 0) -> models.Attempt:
        """An attempt in ``status``. ``ratings`` (indicator id -> 0/1/2, or ``"*"`` for
        every indicator) are the reviewer's, given before a return or sign-off; ``answers``
        "best" answers every knowledge-check item with its best answer."""
        settings = assessments.settings_from_dict(activity.settings)
        bank = self.content.bank_for(settings.dimension_id)
        framework = self.content.framework
        at = utcnow() - timedelta(hours=1) + timedelta(minutes=at_offset_minutes)
        who = user.display_name
        attempt, events = assessments.Attempt.start(
            framework_version=framework.version, bank_version=bank.version,
            settings=settings, actor=who, at=at, number=number)
        indicators = framework.dimension(settings.dimension_id).indicators_up_to(
            settings.top_level)
        if answers == "best" and settings.knowledge_check:
            for indicator in indicators:
                for item in bank.items_for(indicator.identifier):
                    events += attempt.record_answer(item, best_answer(item), actor=who, at=at)
        if settings.self_assessment:
            for indicator in indicators:
                events += attempt.set_self_rating(indicator.identifier, 2, actor=who, at=at)
            if evidence:
                events += attempt.save_evidence(assessments.Evidence(
                    "ev1", "Our clinic letters were late.", "I mapped the process.",
                    "Letters now go out in two days.",
                    tuple(i.identifier for i in indicators)), actor=who, at=at)
        chain = {"draft": [], "submitted": ["submit"], "in_review": ["submit", "review"],
                 "returned": ["submit", "review", "rate", "return"],
                 "final": ["submit", "review", "rate", "sign_off"]}[status]
        if not settings.review_required and status == "final":
            chain = ["submit"]
        rater = reviewer.display_name if reviewer else "Reviewer"
        for step in chain:
            if step == "submit":
                events += attempt.submit(actor=who, at=at)
            elif step == "review":
                events += attempt.start_review(actor=rater, at=at)
            elif step == "rate":
                wanted = ratings or {}
                for indicator in indicators:
                    value = wanted.get(indicator.identifier, wanted.get("*"))
                    if value is not None:
                        events += attempt.rate_indicator(indicator.identifier, value, "ok",
                                                         actor=rater, at=at)
            elif step == "return":
                events += attempt.return_to_learner(actor=rater, at=at,
                                                    comment="Add more evidence")
            elif step == "sign_off":
                events += attempt.sign_off(actor=rater, at=at)
        if override is not None:
            events += attempt.override_level(override[0], override[1], by=rater, at=at)
        result = assessments.evaluate(attempt, framework, bank)
        row = models.Attempt(
            activity_pk=activity.id, user_pk=user.id, number=number,
            status=attempt.status.value, state=attempt.to_dict(),
            level_achieved=result.level_achieved if attempt.is_final else None,
            created_at=at, updated_at=at, submitted_at=attempt.submitted_at,
            finalised_at=attempt.finalised_at,
        )
        self.db.add(row)
        self.db.flush()
        for event in events:
            actor = reviewer if (reviewer and event.actor == rater) else user
            self.db.add(models.AttemptEvent(
                attempt_pk=row.id, kind=event.kind, actor_pk=actor.id,
                actor_name=event.actor, at=event.at, detail={}))
        self.db.flush()
        return row

    def indicators(self, activity: models.Activity) -> tuple[assessments.Indicator, ...]:
        settings = assessments.settings_from_dict(activity.settings)
        return self.content.framework.dimension(settings.dimension_id).indicators_up_to(
            settings.top_level)


@pytest.fixture
def world(dbs, runtime) -> World:
    """Rows arranged directly in the database (call ``world.commit()`` when done)."""
    return World(dbs, runtime.content)


@dataclass
class Course:
    """A typical course: one registration, one course with one assessed link, an
    instructor, a TA, learners, a mentor scoped to the first learner."""

    registration: models.Registration
    context: models.LtiContext
    link: models.ResourceLink
    activity: models.Activity
    instructor: models.LtiUser
    ta: models.LtiUser
    mentor: models.LtiUser
    learners: list[models.LtiUser]


def make_course(world: World) -> Course:
    """Arrange a :class:`Course` (committed)."""
    registration = world.registration()
    context = world.context(registration, title="Ward 7 team",
                            memberships_url="https://lms.example.org/nrps")
    link = world.link(context)
    activity = world.activity(context, link)
    instructor = world.user(registration, "Iris Instructor", "iris@example.org")
    ta = world.user(registration, "Tom Assistant")
    mentor = world.user(registration, "Mo Mentor")
    learners = [world.user(registration, name, f"{name.split()[0].lower()}@example.org")
                for name in ("Ada Learner", "Ben Learner", "Cy Learner")]
    for learner in learners:
        world.roster(context, learner.sub, learner.name, learner.email)
    world.commit()
    return Course(registration, context, link, activity, instructor, ta, mentor, learners)


@pytest.fixture
def course(world: World) -> Course:
    return make_course(world)


# -- reading pages -------------------------------------------------------------------------


def text_of(html: str) -> str:
    """The page's visible text, whitespace collapsed (for assertions on what people read)."""
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    body = re.sub(r"(?s)<[^>]+>", " ", body)
    return " ".join(unescape(body).split())


def form_values(html: str, form_id: str | None = None) -> dict[str, str]:
    """Hidden and text input values of the page's (or one) form: enough to post it back."""
    if form_id is not None:
        match = re.search(rf'(?s)<form[^>]*id="{re.escape(form_id)}".*?</form>', html)
        assert match, f"no form {form_id}"
        html = match.group(0)
    values = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or re.search(r'type="(radio|checkbox|submit)"', tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return values


class Pages:
    """The tool's pages through Flask's test client, as a launched browser sees them."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()

    def csrf(self, ls: str) -> str:
        from lti_tool.web.security import csrf_token

        with self.app.app_context():
            return csrf_token(ls)

    def get(self, path: str, ls: str | None = None, **params: Any):
        query = {"ls": ls, **params} if ls else params
        return self.client.get(path, query_string=query)

    def post(self, path: str, ls: str | None = None, data: dict | None = None, *,
             csrf: bool = True, **params: Any):
        form = dict(data or {})
        if ls:
            form.setdefault("ls", ls)
            if csrf:
                form.setdefault("csrf_token", self.csrf(ls))
        query = {"ls": ls, **params} if ls else params
        return self.client.post(path, data=form, query_string=query)


@pytest.fixture
def pages(app) -> Pages:
    return Pages(app)
