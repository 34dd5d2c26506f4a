"""How launch roles become views: context roles only, in any of their spellings."""

from __future__ import annotations

import pytest

from lti_tool.lti.roles import ContextRole, context_role_names, understand_roles

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
M = LIS + "membership#"
SUB = LIS + "membership/"
INST = LIS + "institution/person#"
SYS = LIS + "system/person#"

ROLE_TABLE = [
    # (roles claim, label, educator, mentor, learner)
    ([M + "Learner"], "Learner", False, False, True),
    (["Learner"], "Learner", False, False, True),
    ([M + "Instructor"], "Educator", True, False, False),
    (["Instructor"], "Educator", True, False, False),
    (["urn:lti:role:ims/lis/Instructor"], "Educator", True, False, False),
    ([SUB + "Instructor#TeachingAssistant"], "Teaching assistant", True, False, False),
    (["urn:lti:role:ims/lis/Instructor/TeachingAssistant"], "Teaching assistant", True, False,
     False),
    (["TeachingAssistant"], "Teaching assistant", True, False, False),
    ([M + "Instructor", SUB + "Instructor#TeachingAssistant"], "Educator", True, False, False),
    ([M + "Mentor"], "Mentor", False, True, False),
    ([SUB + "Mentor#Advisor"], "Mentor", False, True, False),
    ([M + "Mentor", M + "Instructor"], "Educator", True, False, False),
    ([M + "Learner", M + "Instructor"], "Educator", True, False, False),
    # Institution and system roles never grant a course view.
    ([INST + "Instructor"], "Learner", False, False, True),
    ([INST + "Administrator", SYS + "Administrator", M + "Learner"], "Learner", False, False,
     True),
    ([SYS + "SysAdmin"], "Learner", False, False, True),
    (["urn:lti:instrole:ims/lis/Instructor"], "Learner", False, False, True),
    # Unknown and empty: accepted, learner view.
    ([], "Learner", False, False, True),
    (["Wizard", "http://example.org/roles#Dean"], "Learner", False, False, True),
    # A sub-role other than TeachingAssistant does not make an educator by itself.
    ([SUB + "Instructor#Grader"], "Learner", False, False, True),
    ([M + "ContentDeveloper"], "Learner", False, False, True),
    ([M + "Administrator"], "Learner", False, False, True),
]


@pytest.mark.parametrize(("roles", "label", "educator", "mentor", "learner"), ROLE_TABLE)
def test_roles_become_a_view(roles, label, educator, mentor, learner):
    view = understand_roles(roles)
    assert (view.label, view.is_educator, view.is_mentor, view.is_learner) == (
        label, educator, mentor, learner)


def test_names_keep_sub_roles_apart_from_principal_roles():
    names = context_role_names([SUB + "Instructor#Grader", M + "Learner", INST + "Faculty",
                                " Mentor ", 42])
    assert names == {"Instructor#Grader", "Learner", "Mentor"}


def test_has_context_role_tells_a_recognised_role_from_none():
    assert understand_roles(["Learner"]).has_context_role
    assert not understand_roles([INST + "Student", "Wizard"]).has_context_role


def test_context_role_uris():
    assert ContextRole.INSTRUCTOR.uri() == M + "Instructor"
    assert ContextRole.TEACHING_ASSISTANT.uri() == SUB + "Instructor#TeachingAssistant"
    assert understand_roles([ContextRole.TEACHING_ASSISTANT.uri()]).is_educator
