"""The course-level list of activities (Canvas course navigation) and what it opens."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from lti_tool.persistence import models
from tests.functional.conftest import Course, Pages, World, text_of


def course_launch(world: World, course: Course, role: str = "instructor") -> str:
    link = world.link(course.context, title="Competency assessments")
    user = course.instructor if role == "instructor" else course.mentor
    return world.launch(user, course.context, link, role, placement="course_navigation")


def test_course_navigation_lands_on_the_course_list(world: World, course: Course,
                                                   pages: Pages):
    ada, ben, cy = course.learners
    second = world.activity(course.context, world.link(course.context), title="Second look")
    world.attempt(course.activity, ada, "submitted")
    world.attempt(course.activity, ben, "final", ratings={"*": 2})
    world.attempt(second, cy, "draft")
    other_course = world.context(course.registration, title="Other course")
    world.activity(other_course, world.link(other_course), title="Not ours")
    ls = course_launch(world, course)
    world.commit()

    landing = pages.get("/launch", ls)
    assert landing.status_code == 303
    assert landing.headers["Location"].startswith("/educator/course?")

    response = pages.client.get(landing.headers["Location"])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(html)
    assert "Competency assessments in Ward 7 team" in text
    assert "3 learners on the roster" in text
    assert re.search(r"Service improvement Levels 1 to 4; target Level 2 .*? 2 1 1", text)
    assert re.search(r"Second look Levels 1 to 4; target .*? 1 0 0", text)
    assert "Not ours" not in text
    # Each activity opens its dashboard, still inside the course-level launch.
    link = re.search(r'<a href="([^"]+)">Second look</a>', html).group(1).replace("&amp;", "&")
    assert f"activity={second.public_id}" in link
    dashboard = text_of(pages.client.get(link).get_data(as_text=True))
    assert "Second look" in dashboard and "Learners (3)" in dashboard
    # A dashboard with no activity chosen goes back to the list.
    assert pages.get("/educator/", ls).headers["Location"].startswith("/educator/course?")


def test_course_launch_reaches_every_activity_of_its_course_only(world: World, course: Course,
                                                                pages: Pages):
    second = world.activity(course.context, world.link(course.context), title="Second look")
    row = world.attempt(second, course.learners[0], "submitted")
    other_course = world.context(course.registration)
    foreign = world.activity(other_course, world.link(other_course))
    foreign_row = world.attempt(foreign, world.user(course.registration, "Fay"), "submitted")
    course_ls = course_launch(world, course)
    link_ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()

    review = pages.get(f"/educator/attempts/{row.id}/review", course_ls)
    assert review.status_code == 200
    assert f"activity={second.public_id}" in review.get_data(as_text=True)
    assert pages.get(f"/educator/attempts/{foreign_row.id}/review", course_ls).status_code \
        == 404
    assert pages.get("/educator/", course_ls, activity=foreign.public_id).status_code == 404
    assert pages.get("/educator/export.csv", course_ls,
                     activity=second.public_id).status_code == 200
    # A resource-link launch stays on its own link's activity.
    assert pages.get("/educator/", link_ls, activity=second.public_id).status_code == 404
    assert pages.get(f"/educator/attempts/{row.id}/review", link_ls).status_code == 404
    listing = pages.get("/educator/course", link_ls).get_data(as_text=True)
    assert '<a href="/educator/?ls=' in listing
    assert "Second look</a>" not in listing


def test_course_list_is_for_educators(world: World, course: Course, pages: Pages):
    mentor_ls = world.launch(course.mentor, course.context, course.link, "mentor",
                             scope=[course.learners[0].sub], placement="course_navigation")
    learner_ls = world.launch(course.learners[0], course.context, course.link, "learner",
                              placement="course_navigation")
    world.commit()

    for ls in (mentor_ls, learner_ls):
        response = pages.get("/educator/course", ls)
        assert response.status_code == 403
        assert response.headers["X-Error-Code"] == "forbidden_role"
    # A mentor's course-navigation launch picks no activity, and creates none.
    before = world.db.scalar(select(func.count()).select_from(models.Activity))
    mentor_course = world.launch(course.mentor, course.context, world.link(course.context),
                                 "mentor", scope=[course.learners[0].sub],
                                 placement="course_navigation")
    world.commit()
    response = pages.get("/educator/", mentor_course)
    assert response.status_code == 404 and response.headers["X-Error-Code"] == "no_activity"
    world.db.rollback()
    assert world.db.scalar(select(func.count()).select_from(models.Activity)) == before


def test_empty_course(world: World, pages: Pages):
    registration = world.registration()
    context = world.context(registration, title="New course")
    teacher = world.user(registration, "Tess Teacher")
    ls = world.launch(teacher, context, world.link(context), "instructor",
                      placement="course_navigation")
    world.commit()

    text = text_of(pages.get("/educator/course", ls).get_data(as_text=True))

    assert "This course has no competency assessments yet." in text
    assert "does not share its roster" in text
