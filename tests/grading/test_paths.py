"""Each path of an attempt ends in the sandbox gradebook as DESIGN.md's mapping says."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from sqlalchemy import select

from lti_tool.persistence.models import ResourceLink

LEVEL_2 = "Level 2 - Contribute to the improvement of services"


def _assert_whole_seconds_increasing(history: list[dict]) -> None:
    stamps = [datetime.fromisoformat(s["timestamp"]) for s in history]
    assert all(s.microsecond == 0 for s in stamps)
    assert all(b.timestamp() - a.timestamp() >= 1 for a, b in pairwise(stamps))


def test_pending_review_then_final_level(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    attempt = arrange.attempt(activity, "learner-1")
    lineitem = lms.lineitem_url("rl-a1")

    attempt.submit()
    assert arrange.deliver().delivered == 1
    pending = lms.result(lineitem, "learner-1")
    assert pending["activityProgress"] == "Submitted"
    assert pending["gradingProgress"] == "PendingManual"
    assert "resultScore" not in pending

    attempt.review(level=2)
    attempt.sign_off()
    assert arrange.deliver().delivered == 1
    final = lms.result(lineitem, "learner-1")
    assert (final["resultScore"], final["resultMaximum"]) == (2, 4)
    assert final["gradingProgress"] == "FullyGraded"
    assert final["comment"] == f"{LEVEL_2}; target level 2 met"
    history = lms.scores(lineitem, "learner-1")
    assert [s["gradingProgress"] for s in history] == ["PendingManual", "FullyGraded"]
    assert "scoreGiven" not in history[0] and "scoreMaximum" not in history[0]
    _assert_whole_seconds_increasing(history)


def test_returned_then_resubmitted_then_second_attempt_never_sends_non_final_after_final(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    lineitem = lms.lineitem_url("rl-a1")
    first = arrange.attempt(activity, "learner-1")

    first.submit()
    first.review(level=1)
    first.return_to_learner()
    first.submit()
    first.review(level=1)
    first.sign_off()
    arrange.drain()
    # Only the newest of the queued rows was sent: the older ones were superseded.
    history = lms.scores(lineitem, "learner-1")
    assert [s["gradingProgress"] for s in history] == ["FullyGraded"]
    assert lms.result(lineitem, "learner-1")["resultScore"] == 1

    second = arrange.attempt(activity, "learner-1")
    assert second.submit() is None  # "Submitted" would wipe the first attempt's grade
    second.review(level=3)
    assert second.return_to_learner() is None
    assert second.submit() is None
    second.review(level=3)
    assert second.sign_off() is not None
    arrange.drain()

    history = lms.scores(lineitem, "learner-1")
    assert [(s["gradingProgress"], s.get("scoreGiven")) for s in history] == [
        ("FullyGraded", 1), ("FullyGraded", 3)]
    assert lms.result(lineitem, "learner-1")["resultScore"] == 3
    _assert_whole_seconds_increasing(history)


def test_each_step_before_a_final_score_is_sent_in_order(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    lineitem = lms.lineitem_url("rl-a1")
    attempt = arrange.attempt(activity, "learner-2")

    attempt.submit()
    arrange.drain()
    attempt.review(level=1)
    attempt.return_to_learner()
    arrange.drain()
    attempt.submit()
    arrange.drain()
    attempt.review(level=2)
    attempt.sign_off()
    arrange.drain()

    history = lms.scores(lineitem, "learner-2")
    assert [(s["activityProgress"], s["gradingProgress"]) for s in history] == [
        ("Submitted", "PendingManual"), ("InProgress", "NotReady"),
        ("Submitted", "PendingManual"), ("Completed", "FullyGraded")]
    _assert_whole_seconds_increasing(history)


def test_override_sends_a_new_final_score_with_the_reason(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    lineitem = lms.lineitem_url("rl-a1")
    attempt = arrange.attempt(activity, "learner-1")
    attempt.final(level=2)
    arrange.drain()

    attempt.override(3, "Evidence seen in the appraisal meeting")
    arrange.drain()
    result = lms.result(lineitem, "learner-1")
    assert result["resultScore"] == 3
    assert result["comment"].startswith("Level 3 - ")
    assert result["comment"].endswith(
        "; level set by an educator: Evidence seen in the appraisal meeting")
    assert len(lms.scores(lineitem, "learner-1")) == 2


def test_lineitem_from_the_launch_claim_is_used_without_any_lookup(world):
    arrange, lms = world.arrange, world.lms
    activity = arrange.activity(arrange.link("rl-a1"))
    arrange.attempt(activity, "learner-1").final(level=2)
    arrange.drain()
    counts = lms.counts()
    assert counts.get("lineitems", 0) == 0
    assert counts.get("lineitems.created", 0) == 0
    assert lms.result(lms.lineitem_url("rl-a1"), "learner-1")["resultScore"] == 2


def test_lineitem_is_created_once_for_a_link_launched_without_one(world):
    arrange, lms, runtime = world.arrange, world.lms, world.runtime
    link = arrange.link("rl-a2")
    activity = arrange.activity(link)
    for learner in ("learner-1", "learner-2", "learner-3"):
        arrange.attempt(activity, learner).final(level=1)
    arrange.drain()

    state = lms.state()
    created = [li for li in state["lineitems"] if li.get("resourceLinkId") == "rl-a2"]
    assert len(created) == 1
    item = created[0]
    assert item["tag"] == "ksf-level"
    assert item["scoreMaximum"] == 4
    assert item["label"] == "Service improvement"
    assert state["counts"]["lineitems.created"] == 1
    for learner in ("learner-1", "learner-2", "learner-3"):
        assert state["results"][item["id"]][learner]["resultScore"] == 1
    with runtime.session() as db:
        assert db.get(ResourceLink, link).lineitem_url == item["id"]


def test_an_existing_lineitem_is_found_by_resource_link_and_tag(world):
    arrange, lms = world.arrange, world.lms
    # As deep linking would have made it: a column for rl-a2 carrying our tag, behind
    # other columns on an earlier page (the sandbox pages line items).
    with world.stack.sandbox.mutate() as data:
        for n in range(3):
            data["lineitems"][f"li-other{n}"] = {
                "local_id": f"li-other{n}", "context_id": "course-a", "label": f"Other {n}",
                "scoreMaximum": 10, "resourceLinkId": "rl-a2", "resourceId": "",
                "tag": "someone-else", "startDateTime": None, "endDateTime": None,
                "deleted": False}
        data["lineitems"]["li-ours"] = {
            "local_id": "li-ours", "context_id": "course-a", "label": "Level",
            "scoreMaximum": 4, "resourceLinkId": "rl-a2", "resourceId": "", "tag": "ksf-level",
            "startDateTime": None, "endDateTime": None, "deleted": False}
    activity = arrange.activity(arrange.link("rl-a2"))
    arrange.attempt(activity, "learner-1").final(level=2)
    arrange.drain()
    ours = world.stack.sandbox.lineitem_url("course-a", "li-ours")
    assert lms.result(ours, "learner-1")["resultScore"] == 2
    assert lms.counts().get("lineitems.created", 0) == 0


def test_several_lineitems_each_get_their_own_score(world):
    arrange, lms = world.arrange, world.lms
    levels = {"rl-a1": 1, "rl-a2": 2, "rl-b1": 3}
    for link_id, level in levels.items():
        activity = arrange.activity(arrange.link(link_id))
        arrange.attempt(activity, "learner-1").final(level=level)
    arrange.drain()
    with world.runtime.session() as db:
        urls = {link.resource_link_id: link.lineitem_url
                for link in db.scalars(select(ResourceLink))}
    assert len(set(urls.values())) == 3
    for link_id, level in levels.items():
        assert lms.result(urls[link_id], "learner-1")["resultScore"] == level
