"""Valid launches the tool must accept (the certification list: multiple roles, short role
names, unknown role, empty roles, email only, names only, no personal data, no context),
what the launched page says, and what a launch records."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from launch_platform import (
    INSTITUTION,
    MEMBERSHIP,
    launch_session_id,
)
from sqlalchemy import func, select

from lti_tool.lti.claims import Claim
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import LaunchSession, LtiContext, LtiUser, ResourceLink
from lti_tool.services.launches import prune_expired_sessions

NO_NAMES = {"name": None, "given_name": None, "family_name": None}
SUB_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#"


VARIANTS = {
    # name: (claim changes, who the page names, the role understood, the course shown)
    "learner": ({}, "Ada Lovelace", "Learner", "Improving services"),
    "instructor": ({"roles": [MEMBERSHIP + "Instructor"]}, "Ada Lovelace", "Educator",
                   "Improving services"),
    "multiple roles": ({"roles": [MEMBERSHIP + "Learner", MEMBERSHIP + "Instructor",
                                  INSTITUTION + "Faculty"]},
                       "Ada Lovelace", "Educator", "Improving services"),
    "short learner": ({"roles": ["Learner"]}, "Ada Lovelace", "Learner", "Improving services"),
    "short instructor": ({"roles": ["Instructor"]}, "Ada Lovelace", "Educator",
                         "Improving services"),
    "unknown role": ({"roles": ["http://example.org/roles#Wizard"]}, "Ada Lovelace",
                     "Learner", "Improving services"),
    "unknown beside instructor": ({"roles": ["Wizard", MEMBERSHIP + "Instructor"]},
                                  "Ada Lovelace", "Educator", "Improving services"),
    "empty roles": ({"roles": []}, "Ada Lovelace", "Learner", "Improving services"),
    "teaching assistant": ({"roles": [SUB_ROLE + "TeachingAssistant"]}, "Ada Lovelace",
                           "Teaching assistant", "Improving services"),
    "mentor": ({"roles": [MEMBERSHIP + "Mentor"], "role_scope_mentor": ["learner-sub-2"]},
               "Ada Lovelace", "Mentor", "Improving services"),
    "institution admin who is a learner": (
        {"roles": [INSTITUTION + "Administrator",
                   "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
                   MEMBERSHIP + "Learner"]},
        "Ada Lovelace", "Learner", "Improving services"),
    "institution instructor only": ({"roles": [INSTITUTION + "Instructor"]}, "Ada Lovelace",
                                    "Learner", "Improving services"),
    "lti 1.1 urn": ({"roles": ["urn:lti:role:ims/lis/Instructor"]}, "Ada Lovelace",
                    "Educator", "Improving services"),
    "email only": ({**NO_NAMES}, "ada@example.org", "Learner", "Improving services"),
    "names only": ({"email": None}, "Ada Lovelace", "Learner", "Improving services"),
    "given and family name only": ({"email": None, "name": None}, "Ada Lovelace",
                                   "Learner", "Improving services"),
    "no personal data": ({**NO_NAMES, "email": None}, "User learner-sub-", "Learner",
                         "Improving services"),
    "instructor with no personal data": (
        {**NO_NAMES, "email": None, "roles": ["Instructor"]}, "User learner-sub-",
        "Educator", "Improving services"),
    "no context": ({"context": None}, "Ada Lovelace", "Learner", None),
    "instructor without context": ({"context": None, "roles": [MEMBERSHIP + "Instructor"]},
                                   "Ada Lovelace", "Educator", None),
}


def who_line(html: str) -> str:
    """The page header's "who" line: user · course · role, as the tool understood them."""
    match = re.search(r'<p class="who">(.*?)</p>', html, re.S)
    assert match, html[:500]
    return unescape(re.sub(r"\s+", " ", match.group(1))).strip()


@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_valid_launch_names_the_user_course_and_role(sqlite_driver, variant):
    driver = sqlite_driver
    changes, who, role, course = VARIANTS[variant]
    response = driver.launch(**changes)
    assert response.status_code == 303, response.headers.get("X-Error-Code")

    # Whatever page the launch lands on (it depends on the role and the activity), its
    # header says who the tool understood the user to be, where, and in what role.
    page = driver.client.get(response.location, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code < 500 and "Traceback" not in text
    expected = " · ".join(part for part in (who, course, role) if part)
    if who.endswith("-"):  # no personal data: named from the opaque sub
        assert re.fullmatch(re.escape(who) + r"\S* · " + re.escape(
            " · ".join(p for p in (course, role) if p)), who_line(text))
    else:
        assert who_line(text) == expected


def test_launch_records_user_course_link_and_session(dbs, driver, platform, runtime):
    ags = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
           "lineitems": "https://lms.example.org/c1/lineitems",
           "lineitem": "https://lms.example.org/c1/lineitems/7"}
    response = driver.launch(
        roles=[MEMBERSHIP + "Mentor"], role_scope_mentor=["sub-a", "sub-b"],
        custom={"activity": "a-1"},
        launch_presentation={"return_url": "https://lms.example.org/course/1",
                             "document_target": "iframe"},
        **{Claim.AGS_ENDPOINT.value: ags,
           Claim.NRPS.value: {"context_memberships_url": "https://lms.example.org/c1/members",
                              "service_versions": ["2.0"]}},
    )
    session = dbs.get(LaunchSession, launch_session_id(response))

    assert len(session.id) >= 43
    lifetime = session.expires_at - session.created_at
    assert lifetime == timedelta(seconds=runtime.settings.launch_session_seconds)
    assert session.message_type == "LtiResourceLinkRequest"
    assert session.deployment_id == platform.deployment_id
    assert session.roles == [MEMBERSHIP + "Mentor"]
    assert session.claims["role_scope_mentor"] == ["sub-a", "sub-b"]
    assert session.claims["custom"] == {"activity": "a-1"}
    assert session.claims["return_url"] == "https://lms.example.org/course/1"
    assert session.claims["ags"]["lineitem"] == ags["lineitem"]
    assert session.claims["resource_link"]["id"] == "link-1"

    user = dbs.get(LtiUser, session.user_pk)
    assert (user.sub, user.name, user.email) == ("learner-sub-1", "Ada Lovelace",
                                                 "ada@example.org")
    context = dbs.get(LtiContext, session.context_pk)
    assert (context.context_id, context.title, context.label) == ("course-1",
                                                                  "Improving services",
                                                                  "SI101")
    assert context.memberships_url == "https://lms.example.org/c1/members"
    link = dbs.get(ResourceLink, session.resource_link_pk)
    assert (link.resource_link_id, link.context_pk) == ("link-1", context.id)
    assert (link.lineitem_url, link.lineitems_url) == (ags["lineitem"], ags["lineitems"])
    assert link.ags_scopes == ags["scope"]


def test_relaunch_updates_the_same_rows(dbs, driver):
    first = dbs.get(LaunchSession, launch_session_id(driver.launch()))
    second = dbs.get(LaunchSession, launch_session_id(driver.launch(
        name="Ada King", given_name="Ada", family_name="King", email=None,
        context={"id": "course-1", "title": "Improving services (2027)"})))

    assert first.id != second.id
    assert (first.user_pk, first.context_pk, first.resource_link_pk) == (
        second.user_pk, second.context_pk, second.resource_link_pk)
    dbs.expire_all()
    user = dbs.get(LtiUser, second.user_pk)
    # The platform stopped sending the email: the tool forgets it too.
    assert (user.name, user.family_name, user.email) == ("Ada King", "King", None)
    assert dbs.get(LtiContext, second.context_pk).title == "Improving services (2027)"
    assert dbs.scalar(select(func.count()).select_from(LtiUser)) == 1


def test_launch_without_context_records_no_course(dbs, driver):
    session = dbs.get(LaunchSession, launch_session_id(driver.launch(context=None)))
    assert session.context_pk is None and session.resource_link_pk is None
    assert session.claims["resource_link"]["id"] == "link-1"
    assert dbs.scalar(select(func.count()).select_from(LtiContext)) == 0


def test_deep_linking_launch_is_recorded(dbs, driver):
    settings = {"deep_link_return_url": "https://lms.example.org/dl/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False, "data": "opaque-123"}
    response = driver.launch(message_type="LtiDeepLinkingRequest", resource_link=None,
                             roles=["Instructor"], deep_linking_settings=settings)
    session = dbs.get(LaunchSession, launch_session_id(response))
    assert session.message_type == "LtiDeepLinkingRequest"
    assert session.resource_link_pk is None and session.context_pk is not None
    assert session.claims["deep_linking_settings"]["data"] == "opaque-123"
    assert session.claims["deep_linking_settings"]["deep_link_return_url"] == (
        settings["deep_link_return_url"])


def test_long_names_and_titles_are_clipped_not_fatal(dbs, driver):
    response = driver.launch(name="N" * 600, context={"id": "c-long", "title": "T" * 900})
    session = dbs.get(LaunchSession, launch_session_id(response))
    assert len(dbs.get(LtiUser, session.user_pk).name) == 255
    assert len(dbs.get(LtiContext, session.context_pk).title) == 500


def test_canvas_placement_is_kept_for_the_home_page(dbs, driver):
    response = driver.launch(**{Claim.CANVAS_PLACEMENT.value: "course_navigation"})
    assert dbs.get(LaunchSession, launch_session_id(response)).claims["placement"] == (
        "course_navigation")


def test_expired_sessions_are_pruned(dbs, driver):
    kept = launch_session_id(driver.launch())
    gone = dbs.get(LaunchSession, launch_session_id(driver.launch()))
    gone.expires_at = utcnow() - timedelta(seconds=1)
    dbs.commit()

    assert prune_expired_sessions(dbs) == 1
    dbs.commit()
    assert [s.id for s in dbs.scalars(select(LaunchSession))] == [kept]


def test_expired_session_no_longer_opens_pages(dbs, driver):
    response = driver.launch()
    session = dbs.get(LaunchSession, launch_session_id(response))
    session.expires_at = utcnow() - timedelta(seconds=1)
    dbs.commit()
    page = driver.client.get(response.location)
    assert page.status_code == 401
