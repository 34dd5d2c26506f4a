"""Grade delivery through the real sandbox LMS: a live stack, an arrange helper that
drives attempts through the domain and queues their scores, and a view of the sandbox's
gradebook (its /control API, as any client would see it)."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from lti_tool import assessments
from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.grading.runner import deliver_due
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import (
    Activity,
    Attempt,
    GradeOutbox,
    LtiContext,
    LtiUser,
    Registration,
    ResourceLink,
)
from lti_tool.services.grades import enqueue_score
from tests.conftest import make_backend
from tests.support.live import SANDBOX_CLIENT_ID, start_stack

AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
#: Links the sandbox world has: link id -> (context id, line item local id or None).
WORLD_LINKS = {"rl-a1": ("course-a", "li-a1"), "rl-a2": ("course-a", None),
               "rl-b1": ("course-b", "li-b1")}

#: Fast timing so nothing in the tests waits long.
FAST_POLICY = DeliveryPolicy(lease_seconds=30, backoff_base_seconds=0.05,
                             backoff_cap_seconds=1.0, batch_size=50, poll_seconds=0.05,
                             roster_retry_seconds=0.5)

_clock = itertools.count(1)


def review_settings(framework: assessments.Framework, **overrides) -> assessments.ActivitySettings:
    """Only the reviewer's rating counts: the level is whatever levels the reviewer rates 2."""
    values = dict(
        dimension_id=framework.primary_dimension.identifier,
        top_level=framework.primary_dimension.top_level,
        target_level=2, knowledge_check=False, self_assessment=False, review_required=True,
        title="Service improvement",
    )
    values.update(overrides)
    return assessments.ActivitySettings(**values)


class Sandbox:
    """The sandbox LMS as tests see it: its control API and gradebook."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.url = stack.lms_url
        self.http = requests.Session()

    def state(self) -> dict:
        response = self.http.get(f"{self.url}/control/state", timeout=10)
        response.raise_for_status()
        return response.json()

    def counts(self) -> dict:
        return self.state()["counts"]

    def fault(self, endpoint: str, kind: str, count: int = 1, **extra) -> None:
        response = self.http.post(f"{self.url}/control/faults", timeout=10,
                                  json={"endpoint": endpoint, "kind": kind, "count": count,
                                        **extra})
        assert response.status_code == 201, response.text

    def lineitem_url(self, link_id: str) -> str | None:
        context_id, local_id = WORLD_LINKS[link_id]
        return self.stack.sandbox.lineitem_url(context_id, local_id) if local_id else None

    def result(self, lineitem_url: str, user: str) -> dict | None:
        return self.state()["results"].get(lineitem_url, {}).get(user)

    def scores(self, lineitem_url: str, user: str) -> list[dict]:
        """Every score the gradebook accepted for the learner, oldest first."""
        return self.state()["scores"].get(lineitem_url, {}).get(user, [])


@dataclass
class AttemptHandle:
    """One learner attempt driven through the domain; each change queues its score as
    the learner helper's services do (same transaction as the attempt's change)."""

    arrange: Arrange
    attempt_pk: int
    user_sub: str
    outbox_ids: list[int | None] = field(default_factory=list)

    def _change(self, operation, *, queue: bool = True) -> int | None:
        runtime = self.arrange.runtime
        content = runtime.content
        with runtime.session() as db:
            row = db.get(Attempt, self.attempt_pk)
            attempt = assessments.Attempt.from_dict(row.state)
            operation(attempt, content)
            bank = content.bank_for(attempt.settings.dimension_id)
            result = assessments.evaluate(attempt, content.framework, bank)
            row.state = attempt.to_dict()
            row.status = attempt.status.value
            row.level_achieved = result.level_achieved if attempt.is_final else None
            row.updated_at = utcnow()
            if not queue:
                return None
            queued = enqueue_score(db, content, row, attempt, result)
            outbox_id = queued.id if queued is not None else None
        self.outbox_ids.append(outbox_id)
        return outbox_id

    @staticmethod
    def _at():
        return utcnow() + timedelta(microseconds=next(_clock))

    def submit(self) -> int | None:
        return self._change(lambda a, c: a.submit(actor=self.user_sub, at=self._at()))

    def review(self, level: int) -> None:
        """Start a review and rate every indicator up to ``level`` 2, the rest 0."""
        def operation(attempt, content):
            attempt.start_review(actor="instructor-1", at=self._at())
            dimension = content.framework.dimension(attempt.settings.dimension_id)
            for indicator in dimension.indicators_up_to(attempt.settings.top_level):
                rating = 2 if indicator.level_number <= level else 0
                attempt.rate_indicator(indicator.identifier, rating, "", actor="instructor-1",
                                       at=self._at())
        # Opening a review tells the gradebook nothing new: no score is queued.
        self._change(operation, queue=False)

    def return_to_learner(self) -> int | None:
        return self._change(lambda a, c: a.return_to_learner(
            actor="instructor-1", at=self._at(), comment="More evidence, please."))

    def sign_off(self) -> int | None:
        return self._change(lambda a, c: a.sign_off(actor="instructor-1", at=self._at()))

    def override(self, level: int, reason: str) -> int | None:
        return self._change(lambda a, c: a.override_level(level, reason, by="instructor-1",
                                                           at=self._at()))

    def final(self, level: int) -> int | None:
        """Submit, review at ``level`` and sign off; returns the final row's id."""
        self.submit()
        self.review(level)
        return self.sign_off()


class Arrange:
    """Rows the launch code would have written: context, links, users, activities."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.runtime = stack.runtime
        self.sandbox = stack.sandbox
        with self.runtime.session() as db:
            self.registration_id = db.scalar(
                select(Registration.id).where(Registration.client_id == SANDBOX_CLIENT_ID))

    def context(self, context_id: str = "course-a") -> int:
        with self.runtime.session() as db:
            row = db.scalar(select(LtiContext).where(
                LtiContext.registration_id == self.registration_id,
                LtiContext.context_id == context_id))
            if row is None:
                row = LtiContext(
                    registration_id=self.registration_id, context_id=context_id,
                    title=context_id, memberships_url=self.sandbox.memberships_url(context_id),
                    deployment_id="sandbox-deployment-1", updated_at=utcnow())
                db.add(row)
                db.flush()
            return row.id

    def link(self, link_id: str = "rl-a1", *, claim_lineitem: bool = True,
             scopes: list[str] | None = None) -> int:
        """A resource link as a launch stores it; ``claim_lineitem`` = the launch's AGS
        claim named the link's line item (rl-a2 has none in the sandbox)."""
        context_id, local_id = WORLD_LINKS[link_id]
        context_pk = self.context(context_id)
        lineitem = (self.sandbox.lineitem_url(context_id, local_id)
                    if claim_lineitem and local_id else None)
        with self.runtime.session() as db:
            row = ResourceLink(
                context_pk=context_pk, resource_link_id=link_id, title=link_id,
                lineitem_url=lineitem, lineitems_url=self.sandbox.lineitems_url(context_id),
                ags_scopes=list(AGS_SCOPES if scopes is None else scopes), updated_at=utcnow())
            db.add(row)
            db.flush()
            return row.id

    def activity(self, link_pk: int, **settings) -> int:
        content = self.runtime.content
        values = review_settings(content.framework, **settings)
        now = utcnow()
        with self.runtime.session() as db:
            link = db.get(ResourceLink, link_pk)
            row = Activity(
                public_id=f"act-{link_pk}-{next(_clock)}", registration_id=self.registration_id,
                context_pk=link.context_pk, resource_link_pk=link_pk, title=values.title,
                settings=assessments.settings_to_dict(values), created_at=now, updated_at=now)
            db.add(row)
            db.flush()
            return row.id

    def learner(self, sub: str) -> int:
        with self.runtime.session() as db:
            row = db.scalar(select(LtiUser).where(
                LtiUser.registration_id == self.registration_id, LtiUser.sub == sub))
            if row is None:
                row = LtiUser(registration_id=self.registration_id, sub=sub, name=sub,
                              updated_at=utcnow())
                db.add(row)
                db.flush()
            return row.id

    def attempt(self, activity_pk: int, sub: str, number: int | None = None) -> AttemptHandle:
        user_pk = self.learner(sub)
        content = self.runtime.content
        with self.runtime.session() as db:
            activity = db.get(Activity, activity_pk)
            if number is None:
                number = 1 + len(db.scalars(select(Attempt.id).where(
                    Attempt.activity_pk == activity_pk, Attempt.user_pk == user_pk)).all())
            settings = assessments.settings_from_dict(activity.settings)
            bank = content.bank_for(settings.dimension_id)
            attempt, _ = assessments.Attempt.start(
                framework_version=content.framework.version, bank_version=bank.version,
                settings=settings, actor=sub, at=utcnow(), number=number)
            now = utcnow()
            row = Attempt(activity_pk=activity_pk, user_pk=user_pk, number=number,
                          status=attempt.status.value, state=attempt.to_dict(),
                          created_at=now, updated_at=now)
            db.add(row)
            db.flush()
            return AttemptHandle(self, row.id, sub)

    # -- delivery helpers ----------------------------------------------------------------

    def deliver(self, worker: str = "test-worker", policy: DeliveryPolicy = FAST_POLICY,
                limit: int = 50):
        return deliver_due(self.runtime, worker, limit, policy=policy)

    def make_due(self) -> None:
        """Fast-forward: every pending row is due now (instead of sleeping out a backoff)."""
        with self.runtime.session() as db:
            db.execute(update(GradeOutbox).where(GradeOutbox.status == "pending")
                       .values(next_attempt_at=utcnow()))

    def drain(self, rounds: int = 10, policy: DeliveryPolicy = FAST_POLICY) -> None:
        """Deliver until nothing is pending (retries made due at once)."""
        for _ in range(rounds):
            self.make_due()
            self.deliver(policy=policy)
            if not self.pending():
                return
        raise AssertionError(f"still pending after {rounds} rounds: {self.pending()}")

    def row(self, outbox_id: int) -> GradeOutbox:
        with self.runtime.session() as db:
            return db.get(GradeOutbox, outbox_id)

    def rows(self) -> list[GradeOutbox]:
        with self.runtime.session() as db:
            return list(db.scalars(select(GradeOutbox).order_by(GradeOutbox.id)))

    def pending(self) -> list[int]:
        return [r.id for r in self.rows() if r.status == "pending"]


@dataclass
class World:
    stack: object
    arrange: Arrange
    lms: Sandbox

    @property
    def runtime(self):
        return self.stack.runtime


# Short enough for the "slow" fault test, long enough for a busy 2-core CI machine.
TEST_OVERRIDES = {"http_timeout_seconds": 3}


def _stop(stack) -> None:
    """Stop both servers without waiting out their loops' 0.5 s poll: a connection wakes
    each loop right after the shutdown request, so it sees the request at once."""
    for server in stack.servers:
        httpd = server.server
        stopper = threading.Thread(target=httpd.shutdown)
        stopper.start()
        deadline = time.monotonic() + 5
        while stopper.is_alive() and time.monotonic() < deadline:
            try:
                socket.create_connection(httpd.server_address[:2], timeout=1).close()
            except OSError:
                pass
            stopper.join(0.02)
        httpd.server_close()


def _start(backend, tool_private_key, sandbox_options=None, **overrides):
    stack = start_stack(backend, tool_private_key, sandbox_options=sandbox_options,
                        **{**TEST_OVERRIDES, **overrides})
    return World(stack, Arrange(stack), Sandbox(stack))


@pytest.fixture
def world(sqlite_backend, tool_private_key):
    """The tool (SQLite) and the sandbox LMS, with the sandbox registered."""
    made = _start(sqlite_backend, tool_private_key)
    yield made
    _stop(made.stack)
    for cleanup in sqlite_backend.cleanups:
        cleanup()


@pytest.fixture
def pg_backend(tmp_path):
    made = make_backend("postgres", tmp_path)
    yield made
    for cleanup in made.cleanups:
        cleanup()


@pytest.fixture
def pg_world(pg_backend, tool_private_key):
    """The tool on PostgreSQL + Redis and the sandbox LMS (a larger course for volume)."""
    made = _start(pg_backend, tool_private_key, sandbox_options={"roster_size": 700})
    yield made
    _stop(made.stack)


@pytest.fixture
def any_world(backend, tool_private_key):
    """The stack on each backend (SQLite, PostgreSQL + Redis)."""
    made = _start(backend, tool_private_key)
    yield made
    _stop(made.stack)
