"""Every page after a launch x every role x own / other user, link, course and registration.

Launch sessions are arranged as rows (see conftest.World): the matrix is about the
server's authorization, not the OIDC flow. One course world is built for the module, on
SQLite (authorization does not depend on the backend); every request either changes
nothing or changes it idempotently (saving without changes, asking for a sync, sending a
score again), so the cases are independent of their order.

Roles: Learner, Instructor, TeachingAssistant, Mentor with the learner in its
``role_scope_mentor``, Mentor without, and an institution Administrator whose context
role is Learner (institution roles never grant a course view).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from lti_tool.persistence import models
from tests.conftest import build_app, make_backend
from tests.functional.conftest import Pages, World

ROLES = ("learner", "admin_learner", "instructor", "ta", "mentor_scoped", "mentor_unscoped")
EDUCATORS = {"instructor", "ta"}
MENTORS = {"mentor_scoped", "mentor_unscoped"}
LEARNERS = {"learner", "admin_learner"}
TARGETS = ("own", "other_user", "other_link", "other_context", "other_registration")

#: The pages this matrix covers: everything a launch opens (the admin page uses its own
#: token, the LTI endpoints are the platform's).
BLUEPRINTS = ("educator.", "learner.", "activity.")
EXTRA_ENDPOINTS = {"web.launch_home"}


@dataclass
class Matrix:
    """The arranged world: who launches, which attempt and activity each target means."""

    pages: Pages
    world: World
    launches: dict[str, str]
    attempts: dict[str, dict[str, int]]     # role -> target -> attempt id
    learner_pks: dict[str, int]              # target -> learner user pk (send again)
    activity_ids: dict[str, str]             # target -> activity public id

    def version(self, attempt_id: int) -> int:
        self.world.db.expire_all()
        version = self.world.db.get(models.Attempt, attempt_id).version
        self.world.db.rollback()  # hold no transaction open while the app writes
        return version


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, tool_private_key):
    backend = make_backend("sqlite", tmp_path_factory.mktemp("matrix"))
    app = build_app(backend, tool_private_key)
    runtime = app.extensions["lti_tool"]
    session = runtime.sessionmaker()
    world = World(session, runtime.content)

    registration = world.registration()
    course = world.context(registration, "Course A", memberships_url="https://lms/nrps")
    link, other_link = world.link(course), world.link(course)
    activity, other_link_activity = world.activity(course, link), world.activity(course,
                                                                                other_link)
    other_course = world.context(registration, "Course B")
    other_course_activity = world.activity(other_course, world.link(other_course))
    elsewhere = world.registration()
    foreign_course = world.context(elsewhere, "Course C")
    foreign_activity = world.activity(foreign_course, world.link(foreign_course))

    learner = world.user(registration, "Lee Learner")
    admin = world.user(registration, "Ann Administrator")
    classmate = world.user(registration, "Cal Classmate")
    foreigner = world.user(elsewhere, "Fen Foreign", sub=learner.sub)  # same sub, other LMS
    instructor = world.user(registration, "Ian Instructor")
    ta = world.user(registration, "Tia Assistant")
    mentor = world.user(registration, "Max Mentor")
    only_elsewhere = world.user(registration, "Only elsewhere")
    for member in (learner, admin, classmate):
        world.roster(course, member.sub, member.name)

    def in_review(activity_row, user):
        return world.attempt(activity_row, user, "in_review").id

    mine = in_review(activity, learner)
    in_review(other_course_activity, only_elsewhere)
    shared = {
        "other_user": in_review(activity, classmate),
        "other_link": in_review(other_link_activity, learner),
        "other_context": in_review(other_course_activity, learner),
        "other_registration": in_review(foreign_activity, foreigner),
    }
    admins_own = in_review(activity, admin)
    attempts = {role: {"own": mine, **shared} for role in ROLES}
    attempts["admin_learner"]["own"] = admins_own

    scope = [learner.sub]
    launches = {
        "learner": world.launch(learner, course, link, "learner"),
        "admin_learner": world.launch(admin, course, link, "admin_learner"),
        "instructor": world.launch(instructor, course, link, "instructor"),
        "ta": world.launch(ta, course, link, "ta"),
        "mentor_scoped": world.launch(mentor, course, link, "mentor", scope=scope),
        "mentor_unscoped": world.launch(mentor, course, link, "mentor"),
    }
    world.commit()
    yield Matrix(
        pages=Pages(app), world=world, launches=launches, attempts=attempts,
        learner_pks={"own": learner.id, "other_user": classmate.id,
                     "other_context": only_elsewhere.id,
                     "other_registration": foreigner.id},
        activity_ids={"other_link": other_link_activity.public_id,
                      "other_context": other_course_activity.public_id,
                      "other_registration": foreign_activity.public_id},
    )
    session.close()
    for cleanup in backend.cleanups:
        cleanup()


# -- expectations --------------------------------------------------------------------------

Expect = Callable[[str, str], int]


def educator_attempt(allowed: int) -> Expect:
    """Educators see the attempts of their link; a scoped mentor only its learner's."""
    def expect(role: str, target: str) -> int:
        if role in LEARNERS:
            return 403
        if role in EDUCATORS and target in {"own", "other_user"}:
            return allowed
        if role == "mentor_scoped" and target == "own":
            return allowed
        return 404
    return expect


def learner_attempt(allowed: int) -> Expect:
    """Learners reach only their own attempt of their link; nobody else's."""
    def expect(role: str, target: str) -> int:
        if role not in LEARNERS:
            return 403
        return allowed if target == "own" else 404
    return expect


def by_role(**statuses: int) -> Expect:
    """A page without an object id: the status depends on the role only."""
    def expect(role: str, target: str) -> int:
        for group, members in (("educators", EDUCATORS), ("mentors", MENTORS),
                               ("learners", LEARNERS)):
            if role in members:
                return statuses[group]
        raise AssertionError(role)
    return expect


def with_activity(allowed_by_role: Expect) -> Expect:
    """Pages that name an activity: a resource-link launch may not pick another one."""
    def expect(role: str, target: str) -> int:
        status = allowed_by_role(role, target)
        if target == "own" or status in {401, 403}:
            return status
        return 404
    return expect


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    path: Callable[[Matrix, str, str], str]     # (matrix, role, target) -> path
    expect: Expect
    targets: tuple[str, ...] = ("own",)
    form: Callable[[Matrix, str, str], dict] = lambda m, role, target: {}
    query: Callable[[Matrix, str, str], dict] = lambda m, role, target: {}


def attempt_path(template: str) -> Callable[[Matrix, str, str], str]:
    return lambda m, role, target: template.format(id=m.attempts[role][target])


def review_form(m: Matrix, role: str, target: str) -> dict:
    return {"action": "save", "version": str(m.version(m.attempts[role][target]))}


def activity_query(m: Matrix, role: str, target: str) -> dict:
    return {} if target == "own" else {"activity": m.activity_ids[target]}


ROUTES = [
    Route("web.launch_home", "GET", lambda m, r, t: "/launch", by_role(
        educators=303, mentors=303, learners=303)),
    # Educator pages.
    Route("educator.dashboard", "GET", lambda m, r, t: "/educator/",
          with_activity(by_role(educators=200, mentors=200, learners=403)),
          targets=("own", "other_link", "other_context", "other_registration"),
          query=activity_query),
    Route("educator.export_csv", "GET", lambda m, r, t: "/educator/export.csv",
          with_activity(by_role(educators=200, mentors=200, learners=403)),
          targets=("own", "other_link", "other_context", "other_registration"),
          query=activity_query),
    Route("educator.course", "GET", lambda m, r, t: "/educator/course",
          by_role(educators=200, mentors=403, learners=403)),
    Route("educator.review", "GET", attempt_path("/educator/attempts/{id}/review"),
          educator_attempt(200), targets=TARGETS),
    Route("educator.review", "POST", attempt_path("/educator/attempts/{id}/review"),
          educator_attempt(303), targets=TARGETS, form=review_form),
    Route("educator.history", "GET", attempt_path("/educator/attempts/{id}/history"),
          educator_attempt(200), targets=TARGETS),
    Route("educator.send_again", "POST",
          lambda m, r, t: f"/educator/learners/{m.learner_pks[t]}/send-again",
          lambda role, target: (403 if role not in EDUCATORS else
                                303 if target in {"own", "other_user"} else 404),
          targets=("own", "other_user", "other_context", "other_registration")),
    Route("educator.sync_roster", "POST", lambda m, r, t: "/educator/roster/sync",
          by_role(educators=303, mentors=403, learners=403)),
    # Learner pages.
    Route("learner.start", "GET", lambda m, r, t: "/learner/",
          by_role(educators=403, mentors=403, learners=200)),
    # An attempt is open (in review): starting another one leads back to it.
    Route("learner.begin", "POST", lambda m, r, t: "/learner/attempts",
          by_role(educators=403, mentors=403, learners=303)),
    Route("learner.resume", "GET", attempt_path("/learner/attempts/{id}"),
          learner_attempt(303), targets=TARGETS),
    Route("learner.level", "GET", attempt_path("/learner/attempts/{id}/levels/1"),
          learner_attempt(303), targets=TARGETS),
    # Submitted work is locked: the owner is told so (409), anyone else finds nothing.
    Route("learner.save_level", "POST", attempt_path("/learner/attempts/{id}/levels/1"),
          learner_attempt(409), targets=TARGETS,
          form=lambda m, r, t: {"version": str(m.version(m.attempts[r][t]))}),
    Route("learner.review", "GET", attempt_path("/learner/attempts/{id}/review"),
          learner_attempt(303), targets=TARGETS),
    # Without the confirmation box the owner gets the form back (400), nothing changes.
    Route("learner.submit", "POST", attempt_path("/learner/attempts/{id}/submit"),
          learner_attempt(400), targets=TARGETS),
    Route("learner.result", "GET", attempt_path("/learner/attempts/{id}/result"),
          learner_attempt(200), targets=TARGETS),
    Route("learner.record", "GET", attempt_path("/learner/attempts/{id}/record"),
          learner_attempt(200), targets=TARGETS),
    # Activity pages. A resource-link launch is not a deep-linking request (400 for the
    # educators it would otherwise serve); the settings form needs its fields (400).
    Route("activity.deep_link", "GET", lambda m, r, t: "/activity/deep-link",
          by_role(educators=400, mentors=403, learners=403)),
    Route("activity.deep_link_submit", "POST", lambda m, r, t: "/activity/deep-link",
          by_role(educators=400, mentors=403, learners=403)),
    Route("activity.settings", "GET", lambda m, r, t: "/activity/settings",
          by_role(educators=200, mentors=403, learners=403)),
    Route("activity.settings", "POST", lambda m, r, t: "/activity/settings",
          by_role(educators=400, mentors=403, learners=403)),
]

CASES = [
    pytest.param(route, role, target,
                 id=f"{route.method} {route.endpoint} {role} {target}")
    for route in ROUTES for role in ROLES for target in route.targets
]


def _send(matrix: Matrix, route: Route, role: str, target: str, *, ls: str | None,
          csrf: bool = True):
    path = route.path(matrix, role, target)
    query = route.query(matrix, role, target)
    if route.method == "GET":
        return matrix.pages.get(path, ls, **query)
    return matrix.pages.post(path, ls, route.form(matrix, role, target), csrf=csrf, **query)


@pytest.mark.parametrize("route, role, target", CASES)
def test_status(matrix: Matrix, route: Route, role: str, target: str):
    response = _send(matrix, route, role, target, ls=matrix.launches[role])

    expected = route.expect(role, target)
    assert response.status_code == expected, (
        f"{route.method} {route.endpoint} as {role} on {target}: "
        f"{response.status_code} {response.headers.get('X-Error-Code')}, expected {expected}")
    if expected == 403:
        assert response.headers["X-Error-Code"] == "forbidden_role"


@pytest.mark.parametrize("route, role", [
    pytest.param(route, role, id=f"{route.endpoint} {role}")
    for route in ROUTES if route.method == "POST" for role in ROLES
])
def test_every_post_needs_the_csrf_token(matrix: Matrix, route: Route, role: str):
    response = _send(matrix, route, role, "own", ls=matrix.launches[role], csrf=False)

    assert response.status_code == 403
    assert response.headers["X-Error-Code"] == "csrf_failed"


@pytest.mark.parametrize("route", [pytest.param(r, id=f"{r.method} {r.endpoint}")
                                   for r in ROUTES])
def test_without_a_launch(matrix: Matrix, route: Route):
    missing = _send(matrix, route, "instructor", "own", ls=None)
    expired_ls = matrix.world.launch(
        matrix.world.db.scalar(select(models.LtiUser).filter_by(name="Ian Instructor")),
        None, None, "instructor", expired=True)
    matrix.world.commit()
    expired = _send(matrix, route, "instructor", "own", ls=expired_ls)
    forged = _send(matrix, route, "instructor", "own", ls="x" * 43)

    matrix.world.db.rollback()
    for response in (missing, expired, forged):
        assert response.status_code == 401
        assert response.headers["X-Error-Code"] == "launch_required"


def test_the_matrix_covers_every_launched_page(matrix: Matrix):
    covered = {(route.endpoint, route.method) for route in ROUTES}
    pages = {
        (rule.endpoint, method)
        for rule in matrix.pages.app.url_map.iter_rules()
        if rule.endpoint.startswith(BLUEPRINTS) or rule.endpoint in EXTRA_ENDPOINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert pages - covered == set(), "add these pages to the authorization matrix"
    assert covered - pages == set(), "these pages no longer exist"


def test_nothing_leaked_into_the_other_course_or_registration(matrix: Matrix):
    """The requests above changed nothing outside the launches' own link."""
    db = matrix.world.db
    db.expire_all()
    others = [matrix.attempts["learner"][t] for t in ("other_link", "other_context",
                                                       "other_registration")]
    for attempt_id in others:
        row = db.get(models.Attempt, attempt_id)
        assert row.status == "in_review"
        kinds = db.scalars(select(models.AttemptEvent.kind)
                           .where(models.AttemptEvent.attempt_pk == attempt_id)).all()
        assert "indicator_rated" not in kinds
    assert db.scalars(select(models.GradeOutbox)).all() == []
