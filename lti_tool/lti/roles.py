"""What a launch's roles mean to the tool.

Learner or educator is decided by the *context* roles only. Institution and system roles
(``.../institution/person#...``, ``.../system/person#...`` and their LTI 1.1 ``urn:``
forms) never grant a course view: an institution Administrator who is a Learner in the
course sees the learner view.

Accepted forms of a context role (LTI 1.3 Core, appendix A.2):
- full URIs ``http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor``;
- sub-roles ``http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant``
  (kept as ``Instructor#TeachingAssistant``);
- short names ``Instructor`` (deemed context roles, as the spec says);
- LTI 1.1 URNs ``urn:lti:role:ims/lis/Instructor`` and ``urn:lti:role:ims/lis/Instructor/...``.
Unknown roles are ignored.

Decision: a launch with no recognised context role (empty roles, unknown roles only, or
institution/system roles only) gets the learner view. 1EdTech certification requires such
launches to be accepted, and the learner view only ever reaches the user's own attempts in
the launch's course, so it grants nothing beyond what any course member has. Without a
context claim there is no course at all, and the pages that need one say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
MEMBERSHIP = LIS + "membership#"
MEMBERSHIP_SUB = LIS + "membership/"
INSTITUTION = LIS + "institution/person#"
SYSTEM = LIS + "system/person#"
URN_CONTEXT = "urn:lti:role:ims/lis/"


class ContextRole(StrEnum):
    """The LIS context (membership) roles the tool knows."""

    ADMINISTRATOR = "Administrator"
    CONTENT_DEVELOPER = "ContentDeveloper"
    INSTRUCTOR = "Instructor"
    LEARNER = "Learner"
    MANAGER = "Manager"
    MEMBER = "Member"
    MENTOR = "Mentor"
    OFFICER = "Officer"
    # A sub-role of Instructor in LIS v2, also sent bare by some platforms.
    TEACHING_ASSISTANT = "TeachingAssistant"

    def uri(self) -> str:
        """The full LIS v2 URI of this role."""
        if self is ContextRole.TEACHING_ASSISTANT:
            return MEMBERSHIP_SUB + "Instructor#TeachingAssistant"
        return MEMBERSHIP + self.value


_PRINCIPALS = frozenset(role.value for role in ContextRole)


def _context_name(role: str) -> str | None:
    """The context role named by ``role`` (``Instructor`` or ``Instructor#Grader``)."""
    role = role.strip()
    if role.startswith(MEMBERSHIP):
        name = role[len(MEMBERSHIP):]
    elif role.startswith(MEMBERSHIP_SUB):
        name = role[len(MEMBERSHIP_SUB):]
    elif role.startswith(URN_CONTEXT):
        name = role[len(URN_CONTEXT):].replace("/", "#", 1)
    elif ":" in role:
        # Institution, system and anything else with a scheme: not a course role.
        return None
    else:
        name = role
    principal, _, sub = name.partition("#")
    if principal not in _PRINCIPALS:
        return None
    return f"{principal}#{sub}" if sub else principal


def context_role_names(roles: list[str] | tuple[str, ...]) -> set[str]:
    """The recognised context roles in ``roles``: principal names (``Instructor``) and
    sub-roles as ``Principal#Sub`` (``Instructor#TeachingAssistant``)."""
    names: set[str] = set()
    for role in roles:
        if isinstance(role, str):
            name = _context_name(role)
            if name:
                names.add(name)
    return names


def _is_teaching_assistant(name: str) -> bool:
    # TeachingAssistant, and the Instructor sub-roles TeachingAssistant{,Section,...}.
    return name.startswith("TeachingAssistant") or name.startswith(
        "Instructor#TeachingAssistant")


@dataclass(frozen=True)
class RoleView:
    """The views a launch may open, decided from its context roles."""

    is_educator: bool  # Instructor or TeachingAssistant in the context
    is_mentor: bool    # Mentor (no educator role): reviews only the learners in its scope
    is_learner: bool   # everyone else: their own attempts only
    names: frozenset[str]

    @property
    def is_teaching_assistant(self) -> bool:
        return self.is_educator and "Instructor" not in self.names

    @property
    def has_context_role(self) -> bool:
        """Whether the launch named any context role the tool knows."""
        return bool(self.names)

    @property
    def label(self) -> str:
        """The role as the tool understood it, for people to read."""
        if self.is_educator:
            return "Teaching assistant" if self.is_teaching_assistant else "Educator"
        if self.is_mentor:
            return "Mentor"
        return "Learner"


def understand_roles(roles: list[str] | tuple[str, ...]) -> RoleView:
    """Decide the view from the context roles of a launch.

    Instructor and TeachingAssistant (in any of their forms) are educators. A Mentor, or
    one of Mentor's sub-roles, without an educator role is a mentor. Anyone else gets the
    learner view (see the module's note on empty and unknown roles).
    """
    names = frozenset(context_role_names(roles))
    educator = "Instructor" in names or any(_is_teaching_assistant(n) for n in names)
    mentor = not educator and any(n.partition("#")[0] == "Mentor" for n in names)
    return RoleView(is_educator=educator, is_mentor=mentor,
                    is_learner=not (educator or mentor), names=names)
