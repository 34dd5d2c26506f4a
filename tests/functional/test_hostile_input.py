"""Crafted input gets a clear answer and never costs anyone what they saved."""

from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.persistence import models


def test_odd_numbers_in_educator_links_are_ignored(pages, world, course):
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.commit()
    for query in ({"page": "\u00b2"}, {"level": "\u00b2"}, {"page": "99999999999"}):
        response = pages.get("/educator/", ls, **query)
        assert response.status_code == 200, query


def test_the_course_menu_link_never_becomes_an_activity(pages, world, course):
    ls = world.launch(course.learners[0], course.context, course.link, "learner",
                      placement="course_navigation")
    nav_link = world.link(course.context, title="Course menu")
    world.db.get(models.LaunchSession, ls).resource_link_pk = nav_link.id
    world.commit()
    before = world.db.scalar(select(func.count()).select_from(models.Activity))
    response = pages.get("/learner/", ls)
    assert response.status_code == 400
    assert response.headers["X-Error-Code"] == "no_activity", response.text
    world.db.expire_all()
    assert world.db.scalar(select(func.count()).select_from(models.Activity)) == before
