"""The cohort queries behind the educator dashboard, on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from lti_tool.persistence import models, utcnow
from lti_tool.services import cohort
from lti_tool.services.cohort import CohortFilters
from tests.functional.conftest import ROLES, Course, World, make_course


@pytest.fixture
def world(dbs, runtime) -> World:
    return World(dbs, runtime.content)


@pytest.fixture
def course(world: World) -> Course:
    return make_course(world)


@contextmanager
def count_statements(engine):
    """Count the SQL statements sent while the block runs."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def names(page):
    return [row.name for row in page.rows]


def test_roster_and_launchers_merge_with_latest_attempts(world: World, course, runtime):
    ada, ben, cy = course.learners
    # An instructor on the roster is not a learner of the activity.
    world.roster(course.context, course.instructor.sub, "Iris Instructor",
                 roles=ROLES["instructor"])
    # Launched (and started) before the roster knew them.
    newcomer = world.user(course.registration, "Dee Newcomer")
    world.attempt(course.activity, newcomer, "draft")
    # Launched without starting: a learner launch session on the link is enough.
    visitor = world.user(course.registration, "Eve Visitor")
    world.launch(visitor, course.context, course.link, "learner")
    # An educator's launch does not make them a learner.
    world.launch(course.ta, course.context, course.link, "ta")
    # Ben's latest attempt is the second one.
    world.attempt(course.activity, ben, "final", ratings={"*": 2}, number=1)
    world.attempt(course.activity, ben, "submitted", number=2)
    # Someone else's course and an inactive roster member stay out.
    other = world.context(course.registration, "Other course")
    world.roster(other, "stranger-sub", "Sam Stranger")
    world.roster(course.context, "gone-sub", "Gus Gone", status="Inactive")
    world.commit()

    page = cohort.learner_page(world.db, runtime.content, course.activity)

    assert names(page) == ["Ada Learner", "Ben Learner", "Cy Learner", "Dee Newcomer",
                           "Eve Visitor"]
    by_name = {row.name: row for row in page.rows}
    assert by_name["Ben Learner"].status == "submitted"
    assert by_name["Ben Learner"].attempt.number == 2
    assert by_name["Ben Learner"].attempt_count == 2
    assert by_name["Ada Learner"].status == "not_started"
    assert by_name["Ada Learner"].email == "ada@example.org"
    assert by_name["Dee Newcomer"].on_roster is False
    assert by_name["Ada Learner"].on_roster is True
    assert by_name["Eve Visitor"].status == "not_started"
    assert page.total == 5
    assert page.status_counts["not_started"] == 3
    assert page.status_counts["submitted"] == 1
    assert page.status_counts["draft"] == 1


def test_filters_search_and_paging(world: World, course, runtime):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "final", ratings={"*": 2})
    world.attempt(course.activity, ben, "in_review")
    world.attempt(course.activity, cy, "final", ratings={"*": 0})
    for n in range(60):
        world.roster(course.context, f"extra-{n:02d}", f"Zed {n:02d}_%")
    world.commit()
    content = runtime.content

    def page(**args):
        return cohort.learner_page(world.db, content, course.activity,
                                   filters=CohortFilters.from_args(args))

    assert names(page(status="final")) == ["Ada Learner", "Cy Learner"]
    assert names(page(needs_review="1")) == ["Ben Learner"]
    top = cohort.assessed_indicators(content, course.activity)[-1].level_number
    assert names(page(level=str(top))) == ["Ada Learner"]
    assert names(page(level="0")) == ["Cy Learner"]
    assert names(page(q="BEN")) == ["Ben Learner"]
    assert names(page(q="cy@example")) == ["Cy Learner"]
    # LIKE wildcards typed by a person are text, not patterns.
    assert page(q="%").total == 60
    assert page(q="_%").total == 60
    assert page(q="03_%").total == 1
    # Nonsense filter values are ignored, not errors.
    assert page(status="deleted", level="x").total == 63

    first = cohort.learner_page(world.db, content, course.activity, page=1)
    second = cohort.learner_page(world.db, content, course.activity, page=2)
    beyond = cohort.learner_page(world.db, content, course.activity, page=99)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (63, 2, 50, 13)
    assert not set(names(first)) & set(names(second))
    assert beyond.page == 2 and names(beyond) == names(second)
    assert (second.first_index, second.last_index) == (51, 63)


def test_mentor_scope_limits_every_query(world: World, course, runtime):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "submitted")
    world.attempt(course.activity, ben, "submitted")
    world.commit()
    scope = frozenset({ben.sub})
    content = runtime.content

    page = cohort.learner_page(world.db, content, course.activity, scope=scope)
    queue = cohort.review_queue(world.db, course.activity, scope=scope)
    nobody = cohort.learner_page(world.db, content, course.activity, scope=frozenset())

    assert names(page) == ["Ben Learner"]
    assert page.status_counts["submitted"] == 1 and page.everyone == 1
    assert [item.learner_name for item in queue.items] == ["Ben Learner"]
    assert nobody.rows == [] and nobody.total == 0
    assert [r[0] for r in cohort.export_rows(world.db, content, course.activity,
                                             scope=scope)][1:] == ["Ben Learner"]


def test_heatmap_cells(world: World, course, runtime):
    ada, ben, cy = course.learners
    indicators = cohort.assessed_indicators(runtime.content, course.activity)
    first, second = indicators[0].identifier, indicators[1].identifier
    world.attempt(course.activity, ada, "final", ratings={first: 2, "*": 1})
    world.attempt(course.activity, ben, "submitted")
    world.attempt(course.activity, cy, "returned", ratings={second: 2})
    world.commit()

    page = cohort.learner_page(world.db, runtime.content, course.activity)
    by_name = {row.name: row for row in page.rows}

    assert set(by_name["Ada Learner"].cells) == {i.identifier for i in indicators}
    assert by_name["Ada Learner"].cells[first] == cohort.MET
    assert by_name["Ada Learner"].cells[second] == cohort.NOT_MET
    assert set(by_name["Ben Learner"].cells.values()) == {cohort.PENDING}
    assert by_name["Cy Learner"].cells[second] == cohort.MET
    assert by_name["Cy Learner"].cells[first] == cohort.PENDING
    totals = cohort.counts_by_state(page.rows)
    assert totals[first] == {cohort.MET: 1, cohort.PENDING: 2}
    assert by_name["Ada Learner"].level == 0
    assert by_name["Ben Learner"].level is None


def test_heatmap_after_the_settings_changed(world: World, course, runtime):
    """An attempt pinned to levels 1-2 says nothing about indicators added later."""
    course.activity.settings = {**course.activity.settings, "top_level": 2}
    world.attempt(course.activity, course.learners[0], "final", ratings={"*": 2})
    course.activity.settings = {**course.activity.settings, "top_level": 4}
    world.commit()

    page = cohort.learner_page(world.db, runtime.content, course.activity)
    cells = {row.name: row.cells for row in page.rows}["Ada Learner"]
    by_level = {}
    for indicator in cohort.assessed_indicators(runtime.content, course.activity):
        by_level.setdefault(indicator.level_number, set()).add(cells[indicator.identifier])

    assert by_level == {1: {cohort.MET}, 2: {cohort.MET}, 3: {cohort.NOT_ASSESSED},
                        4: {cohort.NOT_ASSESSED}}


def test_heatmap_with_a_knowledge_check(world: World, course, runtime):
    activity = world.activity(course.context, world.link(course.context),
                              knowledge_check=True, self_assessment=True,
                              review_required=False)
    ada, ben, _ = course.learners
    world.attempt(activity, ada, "final", answers="best")
    world.attempt(activity, ben, "final")
    world.commit()

    page = cohort.learner_page(world.db, runtime.content, activity)
    by_name = {row.name: row for row in page.rows}

    assert set(by_name["Ada Learner"].cells.values()) == {cohort.MET}
    assert set(by_name["Ben Learner"].cells.values()) == {cohort.NOT_MET}
    assert by_name["Ada Learner"].level == by_name["Ada Learner"].result.top_level
    assert by_name["Cy Learner"].cells[next(iter(by_name["Cy Learner"].cells))] == \
        cohort.CELL_NOT_STARTED


def test_review_queue_oldest_first_with_counts(world: World, course, runtime):
    ada, ben, cy = course.learners
    world.attempt(course.activity, ada, "submitted", at_offset_minutes=30)
    world.attempt(course.activity, ben, "in_review", at_offset_minutes=10)
    world.attempt(course.activity, cy, "submitted", at_offset_minutes=20)
    newcomer = world.user(course.registration, "Dee Newcomer")
    world.attempt(course.activity, newcomer, "final", ratings={"*": 2})
    world.commit()

    queue = cohort.review_queue(world.db, course.activity)

    assert [item.learner_name for item in queue.items] == ["Ben Learner", "Cy Learner",
                                                           "Ada Learner"]
    assert queue.counts == {"submitted": 2, "in_review": 1}
    assert queue.total == 3


def test_dashboard_queries_do_not_grow_with_the_cohort(world: World, course, runtime):
    content = runtime.content

    def dashboard_statements() -> int:
        world.db.expire_all()
        with count_statements(runtime.engine) as seen:
            page = cohort.learner_page(world.db, content, course.activity)
            cohort.review_queue(world.db, course.activity)
            assert all(row.cells for row in page.rows)
        return len(seen)

    ada = course.learners[0]
    world.attempt(course.activity, ada, "submitted")
    world.commit()
    small = dashboard_statements()

    add_learners(world, course, 45)
    large = dashboard_statements()

    assert small == large
    assert large <= 6


def add_learners(world: World, course, count: int) -> None:
    """``count`` more learners on the roster, in every status, some on a second attempt."""
    statuses = ("draft", "submitted", "in_review", "returned", "final")
    for n in range(count):
        learner = world.user(course.registration, f"Learner {n:02d}")
        world.roster(course.context, learner.sub, learner.name)
        status = statuses[n % len(statuses)]
        world.attempt(course.activity, learner, status, ratings={"*": 2})
        if status == "final" and n % 2:
            world.attempt(course.activity, learner, "draft", number=2)
    world.commit()


def test_dashboard_page_costs_the_same_for_any_cohort(world: World, course, app, runtime):
    """The whole dashboard request, launch and grade delivery states included."""
    ls = world.launch(course.instructor, course.context, course.link, "instructor")
    world.db.add(models.RosterSync(context_pk=course.context.id, synced_at=utcnow()))
    world.attempt(course.activity, course.learners[0], "final", ratings={"*": 2})
    world.commit()
    client = app.test_client()

    def statements() -> int:
        client.get("/educator/", query_string={"ls": ls})  # warm caches (frame origins)
        with count_statements(runtime.engine) as seen:
            response = client.get("/educator/", query_string={"ls": ls})
        assert response.status_code == 200
        return len(seen)

    small = statements()
    add_learners(world, course, 45)
    large = statements()

    assert small == large, "the dashboard's statements grow with the number of learners"


def test_export_rows_neutralise_formulas(world: World, course, runtime):
    ada, ben, _ = course.learners
    # The roster's copy of a name is the one shown; a hostile one must not become a formula.
    member = world.db.scalar(select(models.RosterMember).filter_by(user_sub=ada.sub))
    member.name = '=HYPERLINK("http://evil")'
    world.roster(course.context, "sub-at", "@SUM(A1)", "+1@example.org")
    world.roster(course.context, "sub-tab", "\tTabbed")
    world.roster(course.context, "sub-minus", "-2+3")
    reviewer = course.instructor
    world.attempt(course.activity, ben, "final", ratings={"*": 2}, reviewer=reviewer)
    world.commit()

    rows = list(cohort.export_rows(world.db, runtime.content, course.activity))
    header, body = rows[0], rows[1:]
    indicators = cohort.assessed_indicators(runtime.content, course.activity)

    assert header[:7] == ["Name", "Email", "Status", "Level achieved", "Target met",
                          "Submitted at", "Signed off by"]
    assert header[7:] == [f"{i.code} met" for i in indicators]
    by_name = {row[0]: row for row in body}
    assert "'=HYPERLINK(\"http://evil\")" in by_name
    assert "'@SUM(A1)" in by_name and by_name["'@SUM(A1)"][1] == "'+1@example.org"
    assert "'\tTabbed" in by_name and "'-2+3" in by_name
    ben_row = by_name["Ben Learner"]
    assert ben_row[2:5] == ["Final", str(indicators[-1].level_number), "yes"]
    assert ben_row[5].endswith("UTC")
    assert ben_row[6] == "Iris Instructor"
    assert set(ben_row[7:]) == {"Met"}
    assert by_name["Cy Learner"][2:8] == ["Not started", "", "", "", "", "Not started"]
    assert all(not cell.startswith(cohort.FORMULA_PREFIXES) or cell.startswith("'")
               for row in body for cell in row)


@pytest.mark.parametrize("value, expected", [
    ("=1+2", "'=1+2"), ("+44", "'+44"), ("-3", "'-3"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), (None, ""), (2, "2"),
])
def test_neutralise_cell(value, expected):
    assert cohort.neutralise_cell(value) == expected


def test_visible_attempt_stays_inside_registration_course_and_scope(world: World, course):
    ada, ben, _ = course.learners
    mine = world.attempt(course.activity, ada, "submitted")
    other_link_activity = world.activity(course.context, world.link(course.context))
    other_link = world.attempt(other_link_activity, ben, "submitted")
    elsewhere = world.registration()
    foreign_context = world.context(elsewhere)
    foreign_activity = world.activity(foreign_context, world.link(foreign_context))
    foreign = world.attempt(foreign_activity, world.user(elsewhere, "Fay Foreign"), "submitted")
    world.commit()
    reg = course.registration.id
    allowed = [course.activity.id]

    def visible(attempt, activity_pks=allowed, registration=reg, scope=None):
        return cohort.visible_attempt(world.db, attempt.id, registration_id=registration,
                                      activity_pks=activity_pks, scope=scope)

    assert visible(mine) is mine
    assert visible(other_link) is None
    assert visible(foreign) is None
    assert visible(foreign, activity_pks=[foreign_activity.id]) is None
    assert visible(mine, scope=frozenset({ada.sub})) is mine
    assert visible(mine, scope=frozenset({ben.sub})) is None
    assert visible(mine, scope=frozenset()) is None
    assert cohort.visible_learner(world.db, course.activity, ada.id) is not None
    assert cohort.visible_learner(world.db, course.activity, ben.id) is None
    assert cohort.visible_learner(world.db, course.activity, ada.id,
                                  scope=frozenset({ben.sub})) is None


def test_course_summaries(world: World, course, runtime):
    ada, ben, cy = course.learners
    second = world.activity(course.context, world.link(course.context), title="Second")
    world.attempt(course.activity, ada, "final", ratings={"*": 2})
    world.attempt(course.activity, ada, "submitted", number=2)
    world.attempt(course.activity, ben, "final", ratings={"*": 2})
    world.attempt(second, cy, "draft")
    world.commit()

    summaries = cohort.course_summaries(world.db, [course.activity, second])

    assert summaries[0].counts == {"submitted": 1, "final": 1}
    assert (summaries[0].started, summaries[0].awaiting_review, summaries[0].final) == (2, 1, 1)
    assert summaries[1].counts == {"draft": 1}
    assert cohort.roster_learner_count(world.db, course.context) == 3
