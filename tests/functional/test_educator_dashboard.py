"""The educator dashboard, CSV export, grade delivery and roster sync, through HTTP."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from lti_tool.persistence import models, utcnow
from tests.functional.conftest import Course, Pages, World, text_of

DASHBOARD = "/educator/"


def outbox(world: World, course: Course, learner, status: str, **values) -> models.GradeOutbox:
    attempt = world.db.scalar(select(models.Attempt).where(
        models.Attempt.user_pk == learner.id, models.Attempt.activity_pk == course.activity.id))
    now = utcnow()
    row = models.GradeOutbox(
        registration_id=course.registration.id, attempt_pk=attempt.id,
        activity_pk=course.activity.id, resource_link_pk=course.link.id, user_pk=learner.id,
        user_sub=learner.sub, payload={"score": {}}, final=True, status=status, tries=3,
        next_attempt_at=now, created_at=now, **values)
    world.db.add(row)
    world.db.flush()
    return row


def test_dashboard_shows_the_cohort(world: World, course: Course, pages: Pages):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "submitted", at_offset_minutes=20)
    world.attempt(course.activity, ben, "final", ratings={"*": 2})
    newcomer = world.user(course.registration, "Dee Newcomer")
    world.attempt(course.activity, newcomer, "in_review", at_offset_minutes=5)
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    response = pages.get(DASHBOARD, ls)

    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert "Service improvement" in text
    assert "Target Level 2 - Contribute to the improvement of services" in text
    # The review queue: oldest first, with counts.
    assert "Waiting for review (2)" in text
    assert "1 submitted · 1 in review" in text
    queue = text[text.index("Waiting for review"):text.index("Learners (")]
    assert queue.index("Dee Newcomer") < queue.index("Ada Learner")
    # Everyone: the roster merged with a learner who is not on it yet.
    assert "Learners (4)" in text
    assert "Not started: 1 · In progress: 0 · Submitted: 1 · In review: 1 · Returned: 0 · " \
        "Final: 1" in text
    assert "Dee Newcomer Not on the roster yet" in text
    assert re.search(r"Ben Learner ben@example.org Final Level 4", text)
    # The heatmap says met in words, not by colour alone.
    heatmap = text[text.index("Indicators by learner"):]
    assert "Ben Learner ✓ Met ✓ Met" in heatmap
    assert "Cy Learner · Not started" in heatmap
    assert "Ada Learner … Pending" in heatmap
    html = response.get_data(as_text=True)
    assert 'class="cell cell-met"' in html
    assert re.search(r'<abbr title="I pass on any good ideas[^"]*">C4.L1.1</abbr>', html)
    # Settings are one link away.
    assert "/activity/settings?ls=" in html


def test_a_stale_roster_is_synced_in_the_background(world: World, course: Course,
                                                    pages: Pages):
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    first = text_of(pages.get(DASHBOARD, ls).get_data(as_text=True))

    sync = world.db.get(models.RosterSync, course.context.id)
    world.db.refresh(sync)
    assert sync.requested_at is not None
    assert "Roster syncing… reload in a moment" in first

    sync.synced_at = utcnow()
    sync.requested_at = sync.synced_at - timedelta(seconds=1)
    world.commit()
    fresh = text_of(pages.get(DASHBOARD, ls).get_data(as_text=True))
    assert "Roster as of" in fresh and "Roster syncing" not in fresh

    no_nrps = world.context(course.registration)
    link = world.link(no_nrps)
    world.activity(no_nrps, link)
    other_ls = world.launch(course.instructor, no_nrps, link, "instructor")
    world.commit()
    text = text_of(pages.get(DASHBOARD, other_ls).get_data(as_text=True))
    assert "does not share its roster" in text
    assert world.db.get(models.RosterSync, no_nrps.id) is None


def test_refresh_roster_button(world: World, course: Course, pages: Pages):
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.db.add(models.RosterSync(context_pk=course.context.id, synced_at=utcnow(),
                                   requested_at=utcnow() - timedelta(minutes=1)))
    world.commit()

    assert pages.post("/educator/roster/sync", ls, csrf=False).status_code == 403
    response = pages.post("/educator/roster/sync", ls)

    assert response.status_code == 303
    assert "notice=roster_requested" in response.headers["Location"]
    sync = world.db.get(models.RosterSync, course.context.id)
    world.db.refresh(sync)
    assert sync.requested_at > sync.synced_at
    page = pages.client.get(response.headers["Location"])
    assert "The roster will be refreshed" in text_of(page.get_data(as_text=True))


def test_filters_and_paging(world: World, course: Course, pages: Pages):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "final", ratings={"*": 2})
    world.attempt(course.activity, ben, "submitted")
    for n in range(52):
        world.roster(course.context, f"extra-{n}", f"Zoe {n:02d}")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    def learners(**params):
        html = pages.get(DASHBOARD, ls, **params).get_data(as_text=True)
        return re.findall(r'<span class="learner-name">([^<]+)</span>', html), text_of(html)

    assert learners(status="final")[0] == ["Ada Learner"]
    assert learners(needs_review="1")[0] == ["Ben Learner"]
    assert learners(level="4")[0] == ["Ada Learner"]
    assert learners(q="zoe 07")[0] == ["Zoe 07"]
    names, text = learners(q="nobody")
    assert names == [] and "No learners match these filters." in text

    first, text = learners()
    assert len(first) == 50 and "Showing 1–50 of 55 learners." in text
    assert "Page 1 of 2" in text
    second, text = learners(page="2")
    assert len(second) == 5 and not set(first) & set(second)
    # The paging links keep the filters.
    html = pages.get(DASHBOARD, ls, q="zoe").get_data(as_text=True)
    next_link = re.search(r'<a href="([^"]+)" rel="next">', html).group(1)
    assert "q=zoe" in next_link and "page=2" in next_link and f"ls={ls}" in next_link


def test_delivery_state_and_send_again(world: World, course: Course, pages: Pages):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "final", ratings={"*": 2})
    world.attempt(course.activity, ben, "final", ratings={"*": 2})
    failed = outbox(world, course, ada, "failed", last_error_code="not_enrolled",
                    last_error="The learner is no longer enrolled in the course <b>now</b>")
    outbox(world, course, ben, "delivered", delivered_at=utcnow())
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    html = pages.get(DASHBOARD, ls, q="learner").get_data(as_text=True)
    text = text_of(html)

    assert "Not sent The learner is no longer enrolled in the course <b>now</b> Send again" \
        in text
    assert "&lt;b&gt;now&lt;/b&gt;" in html
    assert re.search(r"Ben Learner .*? Sent \d", text)
    assert text.count("Send again") == 1
    action = f"/educator/learners/{ada.id}/send-again"
    assert action in html

    refused = pages.post(action, ls, {"q": "learner"}, csrf=False)
    assert refused.status_code == 403 and refused.headers["X-Error-Code"] == "csrf_failed"
    world.db.refresh(failed)
    assert failed.status == "failed"

    response = pages.post(action, ls, {"q": "learner", "page": "1"})
    assert response.status_code == 303
    assert "notice=sent_again" in response.headers["Location"]
    assert "q=learner" in response.headers["Location"]
    world.db.refresh(failed)
    assert (failed.status, failed.tries, failed.last_error) == ("pending", 0, None)

    nothing = pages.post(f"/educator/learners/{cy.id}/send-again", ls)
    assert nothing.status_code == 404  # Cy has no attempt: not a learner of this activity
    elsewhere = world.registration()
    stranger = world.user(elsewhere, "Sam Stranger")
    world.commit()
    assert pages.post(f"/educator/learners/{stranger.id}/send-again", ls).status_code == 404


def test_mentor_sees_only_their_learners(world: World, course: Course, pages: Pages):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "submitted")
    world.attempt(course.activity, ben, "final", ratings={"*": 2})
    outbox(world, course, ben, "failed", last_error="Scope not granted")
    ls = world.launch(course.mentor, course.context, course.link, "mentor", scope=[ben.sub])
    world.commit()

    response = pages.get(DASHBOARD, ls)

    text = text_of(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Ben Learner" in text
    assert "Ada Learner" not in text and "Cy Learner" not in text
    assert "Learners (1)" in text and "Waiting for review (0)" in text
    # The reason is theirs to see; sending again and roster sync are for educators.
    assert "Scope not granted" in text
    assert "Send again" not in text and "Refresh roster" not in text
    assert "Edit settings" not in text
    rows = list(csv.reader(io.StringIO(pages.get("/educator/export.csv", ls)
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == ["Ben Learner"]


def test_csv_export(world: World, course: Course, pages: Pages):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ben, "final", ratings={"*": 2}, reviewer=course.instructor)
    member = world.db.scalar(select(models.RosterMember).filter_by(user_sub=ada.sub))
    member.name = "=cmd|'/C calc'!A0"
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    response = pages.get("/educator/export.csv", ls)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="Service-improvement-learners.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:7] == ["Name", "Email", "Status", "Level achieved", "Target met",
                           "Submitted at", "Signed off by"]
    assert len(rows[0]) == 7 + 19
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"'=cmd|'/C calc'!A0", "Ben Learner", "Cy Learner"}
    assert by_name["Ben Learner"][1:5] == ["ben@example.org", "Final", "4", "yes"]
    assert by_name["Ben Learner"][6] == "Iris Instructor"
    assert by_name["Ben Learner"][7:] == ["Met"] * 19


def test_names_are_escaped(world: World, course: Course, pages: Pages):
    attacker = world.user(course.registration, '<script>alert("x")</script>',
                          '"><img src=x onerror=alert(1)>@example.org')
    world.attempt(course.activity, attacker, "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    html = pages.get(DASHBOARD, ls).get_data(as_text=True)

    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_no_course_no_dashboard(world: World, course: Course, pages: Pages):
    ls = world.launch(course.instructor, None, None, "instructor")
    world.commit()

    response = pages.get(DASHBOARD, ls)

    assert response.status_code == 404
    assert response.headers["X-Error-Code"] == "no_course"


def test_a_roster_waiting_for_a_worker_that_is_not_running_says_so(
        world: World, course: Course, pages: Pages, runtime):
    """Roster sync and grade delivery run in the delivery loop: without one, the educator
    is told why nothing changes instead of seeing "syncing" forever."""
    from lti_tool.services.grades import WORKER_SEEN_KEY

    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    waiting = text_of(pages.get(DASHBOARD, ls).get_data(as_text=True))
    assert "Roster syncing" in waiting
    assert "background worker is not running" in waiting

    runtime.store.set(WORKER_SEEN_KEY, "worker-1", 300)
    running = text_of(pages.get(DASHBOARD, ls).get_data(as_text=True))
    assert "Roster syncing" in running
    assert "background worker is not running" not in running
