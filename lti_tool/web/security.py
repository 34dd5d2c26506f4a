"""Server-side authorization for every page that follows a launch, and CSRF protection.

The launch session id travels in the ``ls`` query parameter (and as a hidden form field):
cookieless, so pages work in any LMS iframe, whatever the browser does with third-party
cookies. It is 256 random bits, expires, and belongs to one user in one context.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from flask import g, request, url_for
from sqlalchemy import select

from lti_tool.lti.roles import RoleView, understand_roles
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import (
    LaunchSession,
    LtiContext,
    LtiUser,
    Registration,
    ResourceLink,
)
from lti_tool.runtime import current_runtime
from lti_tool.web import abort_with, db

SESSION_PARAM = "ls"
CSRF_FIELD = "csrf_token"


@dataclass
class LaunchContext:
    """Who is asking, from which course and link, as the verified launch established."""

    session: LaunchSession
    registration: Registration
    user: LtiUser
    context: LtiContext | None
    resource_link: ResourceLink | None
    roles: RoleView
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def is_educator(self) -> bool:
        return self.roles.is_educator

    @property
    def is_mentor(self) -> bool:
        return self.roles.is_mentor

    @property
    def is_learner(self) -> bool:
        return self.roles.is_learner

    @property
    def mentor_scope(self) -> list[str]:
        """The learners (subs) a mentor may review: the launch's ``role_scope_mentor``."""
        scope = self.claims.get("role_scope_mentor") or []
        return [s for s in scope if isinstance(s, str)]


def load_launch(session_id: str | None) -> LaunchContext | None:
    """The live launch session ``session_id``, or None."""
    if not session_id or len(session_id) > 100:
        return None
    row = db().get(LaunchSession, session_id)
    if row is None or row.expires_at <= utcnow():
        return None
    registration = db().get(Registration, row.registration_id)
    if registration is None or not registration.enabled:
        return None
    return LaunchContext(
        session=row,
        registration=registration,
        user=db().get(LtiUser, row.user_pk),
        context=db().get(LtiContext, row.context_pk) if row.context_pk else None,
        resource_link=db().get(ResourceLink, row.resource_link_pk)
        if row.resource_link_pk else None,
        roles=understand_roles(list(row.roles or [])),
        claims=dict(row.claims or {}),
    )


def csrf_token(session_id: str | None = None) -> str:
    """The CSRF token for the current (or given) launch session."""
    session_id = session_id or g.launch.id
    key = current_runtime().settings.secret_key.encode()
    return hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    """Refuse a state-changing request without the launch session's CSRF token."""
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(sent.encode(), csrf_token().encode()):
        abort_with(403, "csrf_failed",
                   "This form has expired or did not come from this tool. Reload the page "
                   "and try again; what you saved before is kept.")


def launch_view(*allowed: str):
    """Require a live launch; ``allowed`` may name "educator", "mentor", "learner".

    With no names any launched user may enter (the view then decides per object). POST,
    PUT, PATCH and DELETE requests must carry the CSRF token.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            session_id = request.args.get(SESSION_PARAM) or request.form.get(SESSION_PARAM)
            launch = load_launch(session_id)
            if launch is None:
                abort_with(401, "launch_required",
                           "Your session with the tool has ended. Open the activity again "
                           "from your course.")
            g.launch = launch
            if request.method not in {"GET", "HEAD", "OPTIONS"}:
                check_csrf()
            if allowed and not any(
                (name == "educator" and launch.is_educator)
                or (name == "mentor" and launch.is_mentor)
                or (name == "learner" and launch.is_learner)
                for name in allowed
            ):
                abort_with(403, "forbidden_role",
                           "Your role in this course does not give access to this page.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def url_for_launch(endpoint: str, **values: Any) -> str:
    """``url_for`` that keeps the launch session."""
    values.setdefault(SESSION_PARAM, g.launch.id)
    return url_for(endpoint, **values)


def owned_query(model, **filters):
    """A select() of ``model`` limited to the launch's registration (a guard, not a filter)."""
    statement = select(model).filter_by(**filters)
    if hasattr(model, "registration_id"):
        statement = statement.where(model.registration_id == g.launch.registration.id)
    return statement


def template_globals() -> dict[str, Any]:
    """Helpers every template can use."""
    return {"url_for_launch": url_for_launch, "csrf_token": csrf_token,
            "SESSION_PARAM": SESSION_PARAM}
