"""The sandbox's fault switches: each ends with the right score in the gradebook, nothing
lost, and nothing older written over something newer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Activity, LtiUser
from lti_tool.services.grades import delivery_states, send_again
from tests.grading.conftest import FAST_POLICY


def _final_row(world, link="rl-a1", learner="learner-1", level=2):
    activity = world.arrange.activity(world.arrange.link(link))
    attempt = world.arrange.attempt(activity, learner)
    return activity, attempt, attempt.final(level=level)


@pytest.mark.parametrize(
    ("kind", "extra", "code"),
    [
        ("500", {"count": 2}, "platform_unavailable"),
        ("drop", {"count": 2}, "connection_dropped"),
        # The client gives up after 3 s (http_timeout_seconds in these tests).
        ("slow", {"count": 1, "delay": 4}, "timeout"),
    ],
)
def test_a_passing_failure_is_retried_with_backoff_until_delivered(world, kind, extra, code):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    lms.fault("scores", kind, **extra)

    policy = replace(FAST_POLICY, backoff_base_seconds=20, backoff_cap_seconds=3600)
    before = utcnow()
    counts = arrange.deliver(policy=policy)
    after = utcnow()
    assert counts.retrying == 1 and counts.delivered == 0
    row = arrange.row(outbox_id)
    assert (row.status, row.tries, row.last_error_code) == ("pending", 1, code)
    # First retry: 20 s with equal jitter, so between 10 and 20 s later.
    assert before + timedelta(seconds=10) <= row.next_attempt_at <= after + timedelta(seconds=20)
    assert arrange.deliver(policy=policy).claimed == 0  # not due yet

    arrange.make_due()
    arrange.deliver(policy=policy)
    second_try = arrange.row(outbox_id)
    assert second_try.tries == 2
    if second_try.status == "pending":  # the second try failed too: the wait doubles
        assert second_try.next_attempt_at - utcnow() >= timedelta(seconds=19)

    arrange.drain()
    row = arrange.row(outbox_id)
    assert row.status == "delivered" and row.last_error is None
    lineitem = lms.lineitem_url("rl-a1")
    assert lms.result(lineitem, "learner-1")["resultScore"] == 2
    history = lms.scores(lineitem, "learner-1")
    # A timed-out call may still land at the platform: then the retry lands after it.
    assert all(s["scoreGiven"] == 2 for s in history) and 1 <= len(history) <= 3


def test_429_waits_as_long_as_retry_after_says(world):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    lms.fault("scores", "429", retry_after=30)
    started = utcnow()
    arrange.deliver()
    ended = utcnow()
    row = arrange.row(outbox_id)
    assert row.last_error_code == "rate_limited"
    assert started + timedelta(seconds=30) <= row.next_attempt_at
    assert row.next_attempt_at <= ended + timedelta(seconds=30)
    arrange.drain()
    assert lms.result(lms.lineitem_url("rl-a1"), "learner-1")["resultScore"] == 2


def test_an_expired_token_is_refreshed_once_and_the_score_goes_through(world):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    lms.fault("scores", "401")
    counts = arrange.deliver()
    assert counts.delivered == 1
    assert lms.counts()["token"] == 2  # the first token, then a fresh one after the 401
    assert arrange.row(outbox_id).tries == 1


def test_409_with_the_same_score_already_held_counts_as_delivered(world):
    """A worker killed after the platform took the score: the resend gets 409, and the
    results show our score, so the row is delivered without a second score."""
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    row = arrange.row(outbox_id)
    held = {"userId": "learner-1",
            "timestamp": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
            **row.payload["score"]}
    with world.stack.sandbox.mutate() as data:
        data["scores"].setdefault("li-a1", {})["learner-1"] = [held]

    counts = arrange.deliver()
    assert counts.delivered == 1
    row = arrange.row(outbox_id)
    assert row.status == "delivered"
    assert lms.counts()["results"] == 1
    assert len(lms.scores(lms.lineitem_url("rl-a1"), "learner-1")) == 1


def test_409_with_another_score_held_is_retried_with_a_later_timestamp(world):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world, level=3)
    held_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    with world.stack.sandbox.mutate() as data:
        data["scores"].setdefault("li-a1", {})["learner-1"] = [{
            "userId": "learner-1", "timestamp": held_at.isoformat(),
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "scoreGiven": 1, "scoreMaximum": 4, "comment": "set by hand in the LMS"}]

    assert arrange.deliver().retrying == 1
    assert arrange.row(outbox_id).last_error_code == "conflict"
    arrange.drain()
    history = lms.scores(lms.lineitem_url("rl-a1"), "learner-1")
    assert [s["scoreGiven"] for s in history] == [1, 3]
    assert datetime.fromisoformat(history[1]["timestamp"]) == held_at + timedelta(seconds=1)


def test_409_fault_switch_then_delivered(world):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    lms.fault("scores", "409")
    arrange.drain()
    assert arrange.row(outbox_id).status == "delivered"
    assert lms.result(lms.lineitem_url("rl-a1"), "learner-1")["resultScore"] == 2


def test_a_newer_score_supersedes_an_older_one_stuck_in_retries(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    attempt = arrange.attempt(activity, "learner-1")
    pending_id = attempt.submit()
    lms.fault("scores", "500")
    arrange.deliver()
    assert arrange.row(pending_id).status == "pending"

    attempt.review(level=2)
    final_id = attempt.sign_off()
    arrange.drain()
    assert arrange.row(pending_id).status == "superseded"
    assert arrange.row(final_id).status == "delivered"
    history = lms.scores(lms.lineitem_url("rl-a1"), "learner-1")
    assert [s["gradingProgress"] for s in history] == ["FullyGraded"]


def test_permanent_failures_stop_and_show_the_platform_reason(world):
    arrange, lms = world.arrange, world.lms
    # Not enrolled in the sandbox course: the platform answers 400 with its reason.
    activity, _, stranger = _final_row(world, learner="stranger-1")
    arrange.deliver()
    lms.fault("scores", "403")
    _, _, forbidden = _final_row(world, link="rl-b1", learner="learner-2")
    arrange.deliver()
    arrange.make_due()
    assert arrange.deliver().claimed == 0  # failed rows are not retried by themselves

    row = arrange.row(stranger)
    assert (row.status, row.last_error_code, row.tries) == ("failed", "score_rejected", 1)
    assert row.last_error == "HTTP 400: userId is not an enrolled learner of this context"
    row = arrange.row(forbidden)
    assert (row.status, row.last_error_code) == ("failed", "scope_not_granted")
    assert row.last_error.startswith("HTTP 403: ")
    with world.runtime.session() as db:
        states = delivery_states(db, db.get(Activity, activity))
        user_pk = db.scalar(select(LtiUser.id).where(LtiUser.sub == "stranger-1"))
    assert states[user_pk].state == "failed"
    assert states[user_pk].detail.endswith("not an enrolled learner of this context")


def test_a_deleted_lineitem_fails_and_send_again_creates_a_new_one(world):
    arrange, lms = world.arrange, world.lms
    activity, attempt, outbox_id = _final_row(world, link="rl-a2")
    arrange.drain()
    first_url = arrange.row(outbox_id).lineitem_url
    # An educator deletes the column in the LMS; then overrides the level.
    with world.stack.sandbox.mutate() as data:
        for item in data["lineitems"].values():
            if item["resourceLinkId"] == "rl-a2":
                item["deleted"] = True
    second = attempt.override(3, "Moderated")
    arrange.deliver()
    row = arrange.row(second)
    assert (row.status, row.last_error_code) == ("failed", "lineitem_not_found")

    with world.runtime.session() as db:
        again = send_again(db, db.get(Activity, activity), row.user_pk)
        db.commit()
        assert again.id == second
    arrange.drain()
    row = arrange.row(second)
    assert row.status == "delivered" and row.lineitem_url != first_url
    assert lms.result(row.lineitem_url, "learner-1")["resultScore"] == 3


def test_token_endpoint_failures_are_retried(world):
    arrange, lms = world.arrange, world.lms
    _, _, outbox_id = _final_row(world)
    lms.fault("token", "500")
    arrange.deliver()
    row = arrange.row(outbox_id)
    assert (row.status, row.last_error_code) == ("pending", "token_unavailable")
    arrange.drain()
    assert arrange.row(outbox_id).status == "delivered"
