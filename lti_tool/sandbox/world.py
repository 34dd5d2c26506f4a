"""The sandbox's course world: two courses, their people, links and line items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import vocab


@dataclass(frozen=True)
class Person:
    """A platform user; ``user_id`` is also the ``sub`` the sandbox sends."""

    user_id: str
    given_name: str
    family_name: str
    email: str
    #: Institution or system roles, sent in every launch whatever the course.
    institution_roles: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Full display name."""
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Enrolment:
    """A person's membership of a context."""

    user_id: str
    roles: tuple[str, ...]
    #: role_scope_mentor: the subs of the learners a mentor may see.
    mentees: tuple[str, ...] = ()


@dataclass(frozen=True)
class Course:
    """An LTI context (a course offering)."""

    context_id: str
    label: str
    title: str
    enrolments: tuple[Enrolment, ...] = field(default=())

    def enrolment(self, user_id: str) -> Enrolment | None:
        """The membership of ``user_id`` in this course, if any."""
        for enrolment in self.enrolments:
            if enrolment.user_id == user_id:
                return enrolment
        return None

    def is_learner(self, user_id: str) -> bool:
        """Whether ``user_id`` is enrolled with the context role Learner."""
        enrolment = self.enrolment(user_id)
        return enrolment is not None and vocab.ROLE_LEARNER in enrolment.roles


TEACHING_ASSISTANT_ROLES = (vocab.ROLE_INSTRUCTOR, vocab.ROLE_TEACHING_ASSISTANT)

NAMED_PEOPLE = (
    Person("learner-1", "Alex", "Morgan", "alex.morgan@example.org"),
    Person("learner-2", "Sam", "Patel", "sam.patel@example.org"),
    Person("learner-3", "Jo", "Evans", "jo.evans@example.org"),
    Person("instructor-1", "Chris", "Taylor", "chris.taylor@example.org"),
    Person("ta-1", "Priya", "Shah", "priya.shah@example.org"),
    Person("mentor-1", "Morgan", "Lee", "morgan.lee@example.org"),
    Person("mentor-noscope", "Dana", "Reid", "dana.reid@example.org"),
    Person(
        "admin-1",
        "Ravi",
        "Kumar",
        "ravi.kumar@example.org",
        institution_roles=(vocab.ROLE_INSTITUTION_ADMINISTRATOR,),
    ),
)


def synthetic_learner(number: int) -> Person:
    """One of the extra learners that fill course A's roster (NRPS paging)."""
    return Person(
        f"learner-s{number:03d}", "Test", f"Learner {number:03d}",
        f"learner.s{number:03d}@example.org",
    )


@dataclass(frozen=True)
class World:
    """People and courses; fixed for the life of the sandbox (links live in the state)."""

    people: dict[str, Person]
    courses: dict[str, Course]

    def person(self, user_id: str) -> Person | None:
        """The person with ``user_id``, if any."""
        return self.people.get(user_id)


def build_world(roster_size: int) -> World:
    """The two courses with their enrolments; course A gets ``roster_size`` extra learners."""
    synthetic = [synthetic_learner(n) for n in range(1, roster_size + 1)]
    learner = (vocab.ROLE_LEARNER,)
    course_a = Course(
        "course-a",
        "SI-101",
        "Improving Services",
        (
            Enrolment("learner-1", learner),
            Enrolment("learner-2", learner),
            Enrolment("learner-3", learner),
            Enrolment("instructor-1", (vocab.ROLE_INSTRUCTOR,)),
            Enrolment("ta-1", TEACHING_ASSISTANT_ROLES),
            Enrolment("mentor-1", (vocab.ROLE_MENTOR,), mentees=("learner-1",)),
            Enrolment("mentor-noscope", (vocab.ROLE_MENTOR,)),
            Enrolment("admin-1", learner),
            *(Enrolment(p.user_id, learner) for p in synthetic),
        ),
    )
    course_b = Course(
        "course-b",
        "TL-201",
        "Team Leadership",
        (
            Enrolment("learner-1", learner),
            Enrolment("learner-2", learner),
            Enrolment("instructor-1", (vocab.ROLE_INSTRUCTOR,)),
            Enrolment("ta-1", TEACHING_ASSISTANT_ROLES),
        ),
    )
    people = {p.user_id: p for p in (*NAMED_PEOPLE, *synthetic)}
    return World(people=people, courses={c.context_id: c for c in (course_a, course_b)})


def initial_links() -> dict[str, dict[str, Any]]:
    """The resource links present before any deep linking."""
    return {
        "rl-a1": {
            "id": "rl-a1", "context_id": "course-a", "title": "Service improvement assessment",
            "text": "Assess your level in KSF Service improvement.", "url": None,
            "custom": {}, "lineitem_id": "li-a1", "client_id": None, "created_by": "world",
        },
        "rl-a2": {
            "id": "rl-a2", "context_id": "course-a", "title": "Service improvement (no column)",
            "text": "A link launched without a lineitem claim.", "url": None,
            "custom": {}, "lineitem_id": None, "client_id": None, "created_by": "world",
        },
        "rl-b1": {
            "id": "rl-b1", "context_id": "course-b", "title": "Leading improvement",
            "text": "Team Leadership assessment.", "url": None,
            "custom": {}, "lineitem_id": "li-b1", "client_id": None, "created_by": "world",
        },
    }


def initial_lineitems() -> dict[str, dict[str, Any]]:
    """Gradebook columns of the initial links."""
    return {
        "li-a1": {
            "local_id": "li-a1", "context_id": "course-a", "label": "Service improvement level",
            "scoreMaximum": 4, "resourceLinkId": "rl-a1", "resourceId": "", "tag": "",
            "startDateTime": None, "endDateTime": None, "deleted": False,
        },
        "li-b1": {
            "local_id": "li-b1", "context_id": "course-b", "label": "Leading improvement level",
            "scoreMaximum": 4, "resourceLinkId": "rl-b1", "resourceId": "", "tag": "",
            "startDateTime": None, "endDateTime": None, "deleted": False,
        },
    }
