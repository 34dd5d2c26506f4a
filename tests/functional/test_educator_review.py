"""The review screen: rating, returning, signing off, overriding, history, conflicts."""

from __future__ import annotations

import re

from sqlalchemy import select

from lti_tool.persistence import models
from tests.functional.conftest import Course, Pages, World, form_values, text_of


def review_url(row: models.Attempt) -> str:
    return f"/educator/attempts/{row.id}/review"


def indicator_ids(world: World, course: Course) -> list[str]:
    return [i.identifier for i in world.indicators(course.activity)]


def reload(world: World, row: models.Attempt) -> models.Attempt:
    world.db.expire_all()
    return world.db.get(models.Attempt, row.id)


def events(world: World, row: models.Attempt) -> list[models.AttemptEvent]:
    return list(world.db.scalars(select(models.AttemptEvent)
                                 .where(models.AttemptEvent.attempt_pk == row.id)
                                 .order_by(models.AttemptEvent.id)))


def open_review(pages: Pages, row: models.Attempt, ls: str) -> dict[str, str]:
    """Open the review page and return its form's hidden fields (version, tokens)."""
    response = pages.get(review_url(row), ls)
    assert response.status_code == 200, response.headers.get("X-Error-Code")
    return form_values(response.get_data(as_text=True), "review-form")


def test_opening_a_submitted_attempt_starts_the_review(world: World, course: Course,
                                                      pages: Pages):
    ada = course.learners[0]
    row = world.attempt(course.activity, ada, "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    response = pages.get(review_url(row), ls)
    pages.get(review_url(row), ls)

    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert "Review: Ada Learner" in text and "In review" in text
    assert "Our clinic letters were late." in text
    assert "Self-rating 2 – Consistently" in text
    assert "Your rating for C4.L1.1 0 – Not yet 1 – Partly 2 – Consistently" in text
    row = reload(world, row)
    assert row.status == "in_review"
    started = [e for e in events(world, row) if e.kind == "review_started"]
    assert len(started) == 1 and started[0].actor_pk == course.instructor.id


def test_save_ratings_and_comments(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    first, second = indicator_ids(world, course)[:2]
    form = open_review(pages, row, ls)

    response = pages.post(review_url(row), ls, {
        **form, "action": "save", f"rating-{first}": "2",
        f"comment-{first}": "A clear, specific example.", f"rating-{second}": "1",
        "general_comment": "Good start.",
    })

    assert response.status_code == 303
    assert "notice=saved" in response.headers["Location"]
    state = reload(world, row).state
    assert state["reviewer_ratings"][first] == {"rating": 2,
                                                "comment": "A clear, specific example."}
    assert state["reviewer_ratings"][second]["rating"] == 1
    assert state["reviewer_comment"] == "Good start."
    assert reload(world, row).status == "in_review"
    page = pages.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your ratings and comments are saved." in text_of(page)
    assert re.search(rf'name="rating-{first}" value="2" checked', page)
    assert "A clear, specific example.</textarea>" in page
    history = text_of(pages.get(f"/educator/attempts/{row.id}/history", ls)
                      .get_data(as_text=True))
    assert "Iris Instructor Rated an indicator (C4.L1.1, Consistently)" in history
    assert "“A clear, specific example.”" in history


def test_return_for_more_evidence_needs_a_comment(world: World, course: Course,
                                                 pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    first = indicator_ids(world, course)[0]
    form = open_review(pages, row, ls)

    refused = pages.post(review_url(row), ls, {
        **form, "action": "return", f"rating-{first}": "1",
        f"comment-{first}": "Say what changed for patients.", "general_comment": "  "})

    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Write what more evidence the learner should add" in text_of(html)
    assert "Say what changed for patients.</textarea>" in html
    assert reload(world, row).status == "in_review"
    assert reload(world, row).state["reviewer_ratings"] == {}

    response = pages.post(review_url(row), ls, {
        **form, "action": "return", f"rating-{first}": "1",
        f"comment-{first}": "Say what changed for patients.",
        "general_comment": "Please add an example for level 2."})

    assert response.status_code == 303
    assert "notice=returned" in response.headers["Location"]
    row = reload(world, row)
    assert row.status == "returned"
    assert row.state["reviewer_comment"] == "Please add an example for level 2."
    assert row.state["reviewer_ratings"][first]["rating"] == 1
    returned = [e for e in events(world, row) if e.kind == "returned"]
    assert returned[0].detail["comment"] == "Please add an example for level 2."
    # Now the learner has it: the page says so and offers no rating form.
    page = text_of(pages.get(review_url(row), ls).get_data(as_text=True))
    assert "This attempt was returned for more evidence" in page
    assert "Your rating for" not in page


def test_sign_off_makes_the_attempt_final_and_queues_the_level(world: World, course: Course,
                                                              pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    ls = world.launch(course.ta, course.context, course.link, "ta")
    world.commit()
    form = open_review(pages, row, ls)
    ids = indicator_ids(world, course)
    ratings = {f"rating-{i}": "2" for i in ids[:9]}  # levels 1 and 2 only

    response = pages.post(review_url(row), ls, {**form, **ratings, "action": "sign_off",
                                                "general_comment": "Well evidenced."})

    assert response.status_code == 303
    assert "notice=signed_off" in response.headers["Location"]
    row = reload(world, row)
    assert (row.status, row.level_achieved) == ("final", 2)
    assert row.state["signed_off_by"] == "Tom Assistant"
    queued = world.db.scalars(select(models.GradeOutbox)
                              .where(models.GradeOutbox.attempt_pk == row.id)).all()
    assert [(q.final, q.status) for q in queued] == [(True, "pending")]
    assert queued[0].payload["score"]["scoreGiven"] == 2
    dashboard = text_of(pages.client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Signed off." in dashboard
    assert re.search(r"Ada Learner ada@example.org Final Level 2", dashboard)


def test_stale_save_keeps_the_typed_text(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    mine = world.launch(course.instructor, course.context, course.link, "instructor")
    theirs = world.launch(course.ta, course.context, course.link, "ta")
    world.commit()
    first, second = indicator_ids(world, course)[:2]
    my_form = open_review(pages, row, mine)
    their_form = open_review(pages, row, theirs)
    assert their_form["version"] == my_form["version"]

    saved = pages.post(review_url(row), theirs, {**their_form, "action": "save",
                                                 f"rating-{second}": "0"})
    assert saved.status_code == 303
    conflict = pages.post(review_url(row), mine, {
        **my_form, "action": "sign_off", f"rating-{first}": "2",
        f"comment-{first}": "My careful comment", "general_comment": "My summary"})

    assert conflict.status_code == 409
    html = conflict.get_data(as_text=True)
    assert "Someone else saved this attempt after you opened it" in text_of(html)
    assert "My careful comment</textarea>" in html
    assert "My summary</textarea>" in html
    assert re.search(rf'name="rating-{first}" value="2" checked', html)
    row = reload(world, row)
    assert row.status == "in_review"
    assert row.state["reviewer_ratings"] == {second: {"rating": 0, "comment": ""}}
    # The form now carries the current version: saving again on purpose works.
    retry = form_values(html, "review-form")
    assert int(retry["version"]) == row.version
    again = pages.post(review_url(row), mine, {**retry, "action": "save",
                                               f"rating-{first}": "2"})
    assert again.status_code == 303


def test_rating_input_is_checked(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    first, second = indicator_ids(world, course)[:2]
    form = open_review(pages, row, ls)

    response = pages.post(review_url(row), ls, {
        **form, "action": "save", f"comment-{first}": "No rating with me",
        f"rating-{second}": "2", f"comment-{second}": "x" * 4001})

    assert response.status_code == 400
    text = text_of(response.get_data(as_text=True))
    assert "Choose a rating to go with your comment." in text
    assert "Shorten this comment to 4,000 characters or fewer." in text
    assert reload(world, row).state["reviewer_ratings"] == {}
    bad = pages.post(review_url(row), ls, {**form, "action": "save", f"rating-{first}": "3"})
    assert bad.status_code == 400 and "Choose 0, 1 or 2." in text_of(bad.get_data(as_text=True))
    unknown = pages.post(review_url(row), ls, {**form, "action": "delete"})
    assert unknown.status_code == 400


def test_override_the_level_of_a_final_attempt(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[1], "final", ratings={"*": 2})
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    mentor = world.launch(course.mentor, course.context, course.link, "mentor",
                          scope=[course.learners[1].sub])
    world.commit()
    html = pages.get(review_url(row), ls).get_data(as_text=True)
    assert "Change the level" in text_of(html)
    assert 'id="review-form"' not in html
    form = form_values(html, "override-form")

    no_reason = pages.post(review_url(row), ls, {**form, "action": "override",
                                                 "override_level": "1"})
    assert no_reason.status_code == 400
    assert "Give the reason for changing the level." in text_of(no_reason.get_data(as_text=True))
    assert reload(world, row).level_achieved == 4

    mentor_page = pages.get(review_url(row), mentor).get_data(as_text=True)
    assert "Change the level" not in text_of(mentor_page)
    forbidden = pages.post(review_url(row), mentor, {**form, "action": "override",
                                                     "override_level": "1",
                                                     "override_reason": "x"})
    assert forbidden.status_code == 403

    response = pages.post(review_url(row), ls, {
        **form, "action": "override", "override_level": "1",
        "override_reason": "Level 2 evidence came from a group project <b>only</b>"})

    assert response.status_code == 303
    row = reload(world, row)
    assert row.level_achieved == 1
    assert row.state["override"]["reason"].startswith("Level 2 evidence came from")
    page = pages.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The level was changed." in text_of(page)
    assert "group project &lt;b&gt;only&lt;/b&gt;" in page
    assert "Iris Instructor Changed the level (level 1)" in text_of(page)
    queued = world.db.scalars(select(models.GradeOutbox)
                              .where(models.GradeOutbox.attempt_pk == row.id)).all()
    assert queued[-1].payload["score"]["scoreGiven"] == 1


def test_override_only_on_final_attempts(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    form = open_review(pages, row, ls)

    response = pages.post(review_url(row), ls, {**form, "action": "override",
                                                "override_level": "1",
                                                "override_reason": "Because"})

    assert response.status_code == 409
    assert "Cannot override the level of an attempt that is in_review" in \
        text_of(response.get_data(as_text=True))
    assert reload(world, row).state["override"] is None


def test_evidence_and_comments_are_escaped(world: World, course: Course, pages: Pages):
    row = world.attempt(course.activity, course.learners[0], "submitted")
    state = dict(row.state)
    state["evidence"] = [{**state["evidence"][0],
                          "situation": '<script>alert("evidence")</script>'}]
    row.state = state
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    html = pages.get(review_url(row), ls).get_data(as_text=True)

    assert '<script>alert("evidence")' not in html
    assert "&lt;script&gt;alert(&#34;evidence&#34;)&lt;/script&gt;" in html


def test_knowledge_check_summary_per_indicator(world: World, course: Course, pages: Pages):
    link = world.link(course.context)
    activity = world.activity(course.context, link, knowledge_check=True,
                              self_assessment=False, review_required=True)
    row = world.attempt(activity, course.learners[0], "submitted", answers="best")
    ls = world.launch(course.instructor, course.context, link, "instructor")
    world.commit()

    text = text_of(pages.get(review_url(row), ls).get_data(as_text=True))

    assert re.search(r"C4.L1.1 .*? Knowledge check (\d+) of \1 points \(pass mark 70%\): "
                     r"Passed", text)
    assert "Self-rating" not in text


def test_mentor_reviews_only_learners_in_scope(world: World, course: Course, pages: Pages):
    ada, ben, _ = course.learners
    ada_row = world.attempt(course.activity, ada, "submitted")
    ben_row = world.attempt(course.activity, ben, "submitted")
    ls = world.launch(course.mentor, course.context, course.link, "mentor", scope=[ben.sub])
    world.commit()

    assert pages.get(review_url(ada_row), ls).status_code == 404
    assert pages.get(f"/educator/attempts/{ada_row.id}/history", ls).status_code == 404
    assert reload(world, ada_row).status == "submitted"
    form = open_review(pages, ben_row, ls)
    ratings = {f"rating-{i}": "2" for i in indicator_ids(world, course)}
    signed = pages.post(review_url(ben_row), ls, {**form, **ratings, "action": "sign_off"})
    assert signed.status_code == 303
    assert reload(world, ben_row).status == "final"
    assert reload(world, ben_row).state["signed_off_by"] == "Mo Mentor"


def test_history_lists_who_when_what(world: World, course: Course, pages: Pages):
    ada = course.learners[0]
    first = world.attempt(course.activity, ada, "final", ratings={"*": 2},
                          reviewer=course.instructor)
    second = world.attempt(course.activity, ada, "draft", number=2)
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    text = text_of(pages.get(f"/educator/attempts/{first.id}/history", ls)
                   .get_data(as_text=True))

    assert "History: Ada Learner, attempt 1" in text
    assert re.search(r"UTC Ada Learner Rated themself \(19 times\)", text)
    assert re.search(r"UTC Iris Instructor Signed off", text)
    assert text.index("Submitted") < text.index("Signed off")
    assert "All of Ada Learner's attempts" in text
    assert f"/educator/attempts/{second.id}/history" in pages.get(
        f"/educator/attempts/{first.id}/history", ls).get_data(as_text=True)
