"""services/activities.py on both backends: which activity a launch finds, defaults,
deep-linked activities binding to their link, copies seeded from another course, and the
settings lock with "save as a new version"."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_tool import assessments
from lti_tool.persistence import models
from lti_tool.services import activities, attempts
from lti_tool.services.activities import ActivityServiceError
from tests.integration.test_attempts_service import build_world, make_context, make_link

FORM = {"title": "Appraisal 2027", "top_level": "2", "target_level": "2",
        "knowledge_check": "on", "self_assessment": "on", "pass_mark_percent": "80",
        "new_attempts_allowed": "on", "csrf_token": "ignored", "ls": "ignored"}


@pytest.fixture
def world(dbs, runtime):
    return build_world(dbs, runtime)


def count_activities(db) -> int:
    return db.scalar(select(func.count()).select_from(models.Activity))


def test_a_link_without_settings_gets_defaults_once(world):
    first = activities.activity_for_launch(world.db, world.content, world.launch())
    again = activities.activity_for_launch(world.db, world.content,
                                           world.launch(world.educator))
    assert first is again and count_activities(world.db) == 1
    settings = activities.settings_of(first)
    default = assessments.default_settings(world.content.framework)
    assert (settings.top_level, settings.target_level, settings.knowledge_check,
            settings.self_assessment, settings.review_required) == (
        default.top_level, default.top_level, True, True, False)
    assert first.title == "Link link-1"  # the link's title from the platform
    assert first.resource_link_pk == world.link.id


def test_no_activity_without_a_course_or_link(world):
    assert activities.activity_for_launch(world.db, world.content,
                                          world.launch(link=None)) is None
    launch = world.launch()
    launch.context = None
    assert activities.activity_for_launch(world.db, world.content, launch) is None


def test_a_deep_linked_activity_binds_to_its_link_on_first_launch(world):
    created = activities.create_activity(world.db, world.content,
                                         world.launch(world.educator, link=None), FORM,
                                         actor=world.educator)
    assert created.resource_link_pk is None
    new_link = make_link(world.db, world.context, "link-dl")
    found = activities.activity_for_launch(
        world.db, world.content, world.launch(link=new_link,
                                              custom={"activity_id": created.public_id}))
    assert found.id == created.id and found.resource_link_pk == new_link.id
    assert activities.settings_of(found).pass_mark_percent == 80
    # A second link carrying the same id (the activity duplicated in the course) gets a copy.
    twin = make_link(world.db, world.context, "link-twin")
    copy = activities.activity_for_launch(
        world.db, world.content, world.launch(link=twin,
                                              custom={"activity_id": created.public_id}))
    assert copy.id != created.id and copy.seeded_from == created.public_id


def test_an_activity_id_from_another_course_only_seeds_a_copy(world):
    source = activities.activity_for_launch(world.db, world.content, world.launch())
    activities.update_settings(world.db, world.content, source, FORM, actor=world.educator)
    row = attempts.start_attempt(world.db, world.content, source, world.learner)
    other_course = make_context(world.db, world.registration, "course-2")
    other_link = make_link(world.db, other_course, "link-b")
    copy = activities.activity_for_launch(
        world.db, world.content, world.launch(context=other_course, link=other_link,
                                              custom={"activity_id": source.public_id}))
    assert copy.id != source.id
    assert copy.context_pk == other_course.id and copy.resource_link_pk == other_link.id
    assert copy.seeded_from == source.public_id and copy.public_id != source.public_id
    assert activities.settings_of(copy) == activities.settings_of(source)
    # The copy shares no attempts with the source.
    assert attempts.latest_attempt(world.db, copy, world.learner) is None
    assert attempts.latest_attempt(world.db, source, world.learner).id == row.id
    # An unknown or unsubstituted id gives defaults.
    third = make_link(world.db, other_course, "link-c")
    fresh = activities.activity_for_launch(
        world.db, world.content, world.launch(context=other_course, link=third,
                                              custom={"activity_id": "$ResourceLink.id"}))
    assert fresh.seeded_from is None


def test_an_activity_id_of_another_registration_is_not_followed(world):
    source = activities.activity_for_launch(world.db, world.content, world.launch())
    other = models.Registration(
        name="Other", issuer="https://lms.example", client_id="client-2",
        auth_login_url="https://x", auth_token_url="https://x", key_set_url="https://x",
        created_at=source.created_at)
    world.db.add(other)
    world.db.flush()
    context = make_context(world.db, other, "course-1")
    link = make_link(world.db, context, "link-1")
    launch = world.launch(context=context, link=link, custom={"activity_id": source.public_id})
    launch.registration = other
    found = activities.activity_for_launch(world.db, world.content, launch)
    assert found.id != source.id and found.seeded_from is None


def test_invalid_settings_name_the_fields(world):
    activity = activities.activity_for_launch(world.db, world.content, world.launch())
    bad = {**FORM, "top_level": "2", "target_level": "3", "pass_mark_percent": "140"}
    bad.pop("knowledge_check")
    bad.pop("self_assessment")
    with pytest.raises(ActivityServiceError) as refused:
        activities.update_settings(world.db, world.content, activity, bad,
                                   actor=world.educator)
    assert refused.value.code == "settings_invalid"
    assert set(refused.value.errors) == {"target_level", "pass_mark_percent", "judgements"}


def test_scoring_settings_lock_after_a_submission_and_a_new_version_applies_to_new_attempts(
        world):
    activity = activities.activity_for_launch(world.db, world.content, world.launch())
    activities.update_settings(world.db, world.content, activity, FORM, actor=world.educator)
    assert activity.settings_version == 2  # scoring changed before anyone submitted
    assert not activities.is_locked(world.db, activity)
    first = attempts.start_attempt(world.db, world.content, activity, world.learner)
    attempts.submit(world.db, world.content, first, first.version, actor=world.learner)
    assert activities.is_locked(world.db, activity)

    # Title and new attempts are not scoring settings: they still save.
    activities.update_settings(world.db, world.content, activity,
                               {**FORM, "title": "Renamed"}, actor=world.educator)
    assert activity.title == "Renamed" and activity.settings_version == 2
    with pytest.raises(ActivityServiceError) as locked:
        activities.update_settings(world.db, world.content, activity,
                                   {**FORM, "pass_mark_percent": "60"}, actor=world.educator)
    assert locked.value.code == "settings_locked"
    assert list(locked.value.errors) == ["pass_mark_percent"]

    activities.update_settings(world.db, world.content, activity,
                               {**FORM, "pass_mark_percent": "60"}, actor=world.educator,
                               as_new_version=True)
    assert activity.settings_version == 3
    assert not activities.is_locked(world.db, activity)
    # The submitted attempt keeps its settings; a new attempt pins the new version.
    assert attempts.domain_attempt(first).settings.pass_mark_percent == 80
    second = attempts.start_attempt(world.db, world.content, activity, world.learner)
    assert attempts.domain_attempt(second).settings.pass_mark_percent == 60
    assert attempts.settings_version_of(second) == 3


def test_course_activities(world):
    first = activities.activity_for_launch(world.db, world.content, world.launch())
    other = make_link(world.db, world.context, "link-2")
    second = activities.activity_for_launch(world.db, world.content, world.launch(link=other))
    assert [a.id for a in activities.course_activities(world.db, world.context)] == [
        first.id, second.id]
