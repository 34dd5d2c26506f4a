"""The NRPS roster sync the delivery loop runs, and the roster pages read from the DB."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from lti_tool.grading.roster_sync import sync_requested_rosters
from lti_tool.grading.runner import run_once
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import LtiContext, RosterMember, RosterSync
from lti_tool.services.roster import (
    request_roster_sync,
    request_roster_sync_if_stale,
    roster_page,
    roster_status,
)
from tests.grading.conftest import FAST_POLICY


def _context(world, context_id="course-a") -> LtiContext:
    pk = world.arrange.context(context_id)
    with world.runtime.session() as db:
        return db.get(LtiContext, pk)


def test_a_requested_sync_reads_every_page_and_marks_who_left(any_world):
    world = any_world
    context = _context(world)
    with world.runtime.session() as db:
        db.add(RosterMember(context_pk=context.id, user_sub="left-the-course", name="Gone",
                            roles=[], status="Active", synced_at=utcnow()))
        assert roster_status(db, context).synced_at is None
        request_roster_sync(db, context)
        assert roster_status(db, context).pending is True
    # Nothing is fetched in the request: only the loop talks to the platform.
    assert world.lms.counts().get("nrps", 0) == 0

    run_once(world.runtime, "roster-test", FAST_POLICY)

    with world.runtime.session() as db:
        status = roster_status(db, context)
        assert status.pending is False and status.error is None
        assert utcnow() - status.synced_at < timedelta(seconds=30)
        rows, total = roster_page(db, context, page=1, per_page=50)
        assert total == 8 + 120
        assert len(rows) == 50
        gone = db.scalar(select(RosterMember).where(RosterMember.user_sub == "left-the-course"))
        assert gone.status == "Deleted"
        alex = db.scalar(select(RosterMember).where(RosterMember.user_sub == "learner-1"))
        assert (alex.name, alex.email, alex.status) == (
            "Alex Morgan", "alex.morgan@example.org", "Active")
        assert alex.roles == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
        found, count = roster_page(db, context, page=1, per_page=10, search="MORGAN")
        assert count == 2 and {m.user_sub for m in found} == {"learner-1", "mentor-1"}
        last, _ = roster_page(db, context, page=13, per_page=10)
        assert len(last) == 8
    assert world.lms.counts()["nrps"] == 3


def test_a_failed_sync_is_recorded_and_retried_later(world):
    context = _context(world)
    world.lms.fault("nrps", "500")
    with world.runtime.session() as db:
        request_roster_sync(db, context)
    assert sync_requested_rosters(world.runtime, FAST_POLICY) == 0
    with world.runtime.session() as db:
        status = roster_status(db, context)
        assert status.pending is True
        assert status.error.startswith("platform_unavailable: HTTP 500")
        # Not before the retry pause is over.
        assert sync_requested_rosters(world.runtime, FAST_POLICY) == 0
        db.execute(update(RosterSync).values(claimed_until=utcnow()))
    assert sync_requested_rosters(world.runtime, FAST_POLICY) == 1
    with world.runtime.session() as db:
        assert roster_status(db, context).error is None
        assert roster_page(db, context, page=1, per_page=5)[1] == 128


def test_a_context_without_a_roster_service_says_so(world):
    context = _context(world)
    with world.runtime.session() as db:
        db.get(LtiContext, context.id).memberships_url = None
        request_roster_sync(db, context)
    sync_requested_rosters(world.runtime, FAST_POLICY)
    with world.runtime.session() as db:
        status = roster_status(db, context)
    assert status.pending is False
    assert "no roster service" in status.error


def test_a_stale_roster_is_requested_once(world):
    context = _context(world)
    with world.runtime.session() as db:
        assert request_roster_sync_if_stale(db, context).pending is True
        first = db.get(RosterSync, context.id).requested_at
        assert request_roster_sync_if_stale(db, context).pending is True
        assert db.get(RosterSync, context.id).requested_at == first
    sync_requested_rosters(world.runtime, FAST_POLICY)
    with world.runtime.session() as db:
        fresh = request_roster_sync_if_stale(db, context)
        assert fresh.pending is False and fresh.synced_at is not None


def test_housekeeping_runs_once_per_interval_across_processes(world):
    from lti_tool.grading.runner import housekeeping
    from lti_tool.persistence.models import EphemeralEntry
    from lti_tool.runtime import Runtime

    with world.runtime.session() as db:
        db.add(EphemeralEntry(key="stale", value="x", expires_at=utcnow() - timedelta(hours=1)))
    other_process = Runtime(world.runtime.settings)
    try:
        assert housekeeping(world.runtime, "first", FAST_POLICY) is True
        assert housekeeping(other_process, "second", FAST_POLICY) is False
    finally:
        other_process.dispose()
    with world.runtime.session() as db:
        assert db.get(EphemeralEntry, "stale") is None


def test_the_delivery_loop_tells_the_dashboards_it_is_alive(world):
    import threading

    from lti_tool.grading.runner import run_worker
    from lti_tool.services.grades import delivery_running

    assert not delivery_running(world.runtime.store)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(world.runtime, stop),
                            kwargs={"worker_id": "alive", "policy": FAST_POLICY})
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while not delivery_running(world.runtime.store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=20)
    assert delivery_running(world.runtime.store)
