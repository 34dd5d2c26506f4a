"""Several workers on PostgreSQL: leases, SKIP LOCKED, a worker killed mid-delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, insert, select

from lti_tool.grading.delivery import DeliveryCounts
from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.grading.runner import deliver_due
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Attempt, GradeOutbox, LtiUser
from tests.conftest import PG_URL, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _bulk_rows(world, activity_pk: int, link_pk: int, subs: list[str]) -> None:
    """Final outbox rows for ``subs``, written as a burst of submissions would leave them."""
    runtime, arrange = world.runtime, world.arrange
    now = utcnow()
    with runtime.session() as db:
        db.execute(insert(LtiUser), [
            {"registration_id": arrange.registration_id, "sub": sub, "updated_at": now}
            for sub in subs])
        users = dict(db.execute(select(LtiUser.sub, LtiUser.id)
                                .where(LtiUser.sub.in_(subs))).all())
        db.execute(insert(Attempt), [
            {"activity_pk": activity_pk, "user_pk": users[sub], "number": 1,
             "status": "final", "state": {}, "final_score_sent": True, "created_at": now,
             "updated_at": now, "version": 1} for sub in subs])
        attempts = dict(db.execute(select(Attempt.user_pk, Attempt.id)
                                   .where(Attempt.activity_pk == activity_pk)).all())
        db.execute(insert(GradeOutbox), [
            {"registration_id": arrange.registration_id, "attempt_pk": attempts[users[sub]],
             "activity_pk": activity_pk, "resource_link_pk": link_pk, "user_pk": users[sub],
             "user_sub": sub, "lineitem_url": world.lms.lineitem_url("rl-a1"),
             "payload": {"score": {"activityProgress": "Completed",
                                   "gradingProgress": "FullyGraded", "scoreGiven": 2,
                                   "scoreMaximum": 4, "comment": f"row for {sub}"},
                         "lineitem": {"label": "Level", "scoreMaximum": 4, "tag": "ksf-level"}},
             "final": True, "status": "pending", "tries": 0, "next_attempt_at": now,
             "created_at": now} for sub in subs])


def test_two_workers_deliver_500_rows_exactly_once_while_learners_keep_submitting(pg_world):
    world = pg_world
    arrange, lms = world.arrange, world.lms
    link = arrange.link("rl-a1")
    activity = arrange.activity(link)
    _bulk_rows(world, activity, link, [f"learner-s{n:03d}" for n in range(1, 501)])
    late = [f"learner-s{n:03d}" for n in range(501, 521)]

    policy = DeliveryPolicy(lease_seconds=30, batch_size=10, poll_seconds=0.02)
    stop = threading.Event()
    totals = {name: DeliveryCounts() for name in ("worker-a", "worker-b")}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while not stop.is_set():
                counts = deliver_due(world.runtime, name, policy.batch_size, policy=policy)
                totals[name].add(counts)
                if not counts.claimed:
                    stop.wait(policy.poll_seconds)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def learners_submit() -> None:
        try:
            for sub in late:
                arrange.attempt(activity, sub).final(level=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in totals]
    threads.append(threading.Thread(target=learners_submit))
    for thread in threads:
        thread.start()

    def all_sent():
        with world.runtime.session() as db:
            pending = db.scalar(select(func.count()).select_from(GradeOutbox)
                                .where(GradeOutbox.status == "pending"))
        return pending == 0 and not threads[-1].is_alive()

    try:
        _wait_for(all_sent, 40, "every row sent", step=0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert errors == []

    with world.runtime.session() as db:
        rows = db.execute(select(GradeOutbox.user_sub, GradeOutbox.status,
                                 GradeOutbox.payload)).all()
    delivered = Counter((sub, payload["score"]["gradingProgress"])
                        for sub, status, payload in rows if status == "delivered")
    assert {status for _, status, _ in rows} <= {"delivered", "superseded"}
    # Each learner's final row was delivered (a late learner's "Submitted" row may have
    # been sent before the final one superseded it).
    assert len([key for key in delivered if key[1] == "FullyGraded"]) == 500 + len(late)

    state = lms.state()
    history = state["scores"][lms.lineitem_url("rl-a1")]
    posted = Counter((user, score["gradingProgress"])
                     for user, scores in history.items() for score in scores)
    assert posted == delivered, "a row was sent twice, or sent without being recorded"
    assert state["counts"]["scores"] == sum(delivered.values())
    assert totals["worker-a"].delivered + totals["worker-b"].delivered == \
        sum(delivered.values())
    assert totals["worker-a"].delivered > 0 and totals["worker-b"].delivered > 0
    assert totals["worker-a"].lost_lease == totals["worker-b"].lost_lease == 0
    assert history["learner-s001"][-1]["comment"] == "row for learner-s001"
    assert state["results"][lms.lineitem_url("rl-a1")][late[-1]]["resultScore"] == 3


def test_a_worker_killed_mid_delivery_loses_nothing(pg_world, tmp_path):
    world = pg_world
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    outbox_id = arrange.attempt(activity, "learner-1").final(level=2)
    # The platform takes its time over the first score: the worker dies waiting.
    lms.fault("scores", "slow", delay=9)

    schema = world.runtime.settings.extra["database_schema"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_")},
        "LTI_TOOL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
        "LTI_TOOL_SECRET_KEY": TEST_SECRET,
        "LTI_TOOL_BASE_URL": world.stack.tool_url,
        "LTI_TOOL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "LTI_TOOL_HTTP_TIMEOUT_SECONDS": "10",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from lti_tool.cli import main; main()", "worker", "--id", "doomed",
         "--lease-seconds", "6", "--poll-seconds", "0.05"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: lms.counts().get("scores", 0) >= 1 or worker.poll() is not None, 20,
                  "the worker's score call")
    finally:
        worker.send_signal(signal.SIGKILL)
        _, stderr = worker.communicate(timeout=10)
    assert worker.returncode == -signal.SIGKILL, stderr.decode()[-2000:]

    row = arrange.row(outbox_id)
    assert (row.status, row.claimed_by) == ("pending", "doomed")
    assert row.claimed_until > utcnow()
    # The lease still holds: nobody else may send the row yet.
    assert deliver_due(world.runtime, "rescuer", 10).claimed == 0

    _wait_for(lambda: arrange.row(outbox_id).claimed_until <= utcnow(), 10, "lease expiry")
    counts = deliver_due(world.runtime, "rescuer", 10)
    assert counts.delivered == 1
    row = arrange.row(outbox_id)
    assert row.status == "delivered" and row.claimed_by is None

    # The dead worker's call finishes at the platform later with its older timestamp:
    # refused (409), so the older score never overwrites the newer.
    lineitem = lms.lineitem_url("rl-a1")
    _wait_for(lambda: lms.state()["score_rejections"] or
              len(lms.scores(lineitem, "learner-1")) > 1, 15, "the slow call to finish")
    history = lms.scores(lineitem, "learner-1")
    assert history[-1]["timestamp"] == row.sent_timestamp.isoformat(timespec="seconds")
    assert lms.result(lineitem, "learner-1")["resultScore"] == 2
