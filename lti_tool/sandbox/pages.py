"""The sandbox's own pages: the course page that frames the tool, and the gradebook."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template

from . import vocab
from .http import sandbox
from .launch import FAULTS, VARIANTS
from .state import result_from_score
from .world import NAMED_PEOPLE

bp = Blueprint("pages", __name__)

NAMED_IDS = tuple(p.user_id for p in NAMED_PEOPLE)


def _role_label(roles: tuple[str, ...], institution_roles: tuple[str, ...]) -> str:
    names = [r.rsplit("#", 1)[-1] for r in roles]
    if "TeachingAssistant" in names:
        names = ["TeachingAssistant"]
    label = ", ".join(names)
    if vocab.ROLE_INSTITUTION_ADMINISTRATOR in institution_roles:
        label += " (institution Administrator)"
    return label


@bp.get("/")
def home() -> Response:
    """Courses, their links, a launch button per user and link, and the tool's iframe."""
    sb = sandbox()
    with sb.lock:
        links = copy.deepcopy(list(sb.data["links"].values()))
    courses = []
    for course in sb.world.courses.values():
        people = []
        for user_id in NAMED_IDS:
            enrolment = course.enrolment(user_id)
            if enrolment is None:
                continue
            person = sb.world.people[user_id]
            people.append({
                "user_id": user_id, "name": person.name,
                "role": _role_label(enrolment.roles, person.institution_roles),
                "educator": vocab.ROLE_INSTRUCTOR in enrolment.roles,
            })
        courses.append({
            "context_id": course.context_id, "title": course.title, "label": course.label,
            "people": people,
            "links": [link for link in links if link["context_id"] == course.context_id],
        })
    page = render_template(
        "home.html", courses=courses, clients=sb.all_clients(), faults=FAULTS,
        variants=VARIANTS, config=sb.config, users=NAMED_IDS, all_links=links,
    )
    return Response(page, content_type="text/html; charset=utf-8")


def _when(timestamp: str) -> str:
    try:
        return datetime.fromisoformat(timestamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return timestamp


@bp.get("/gradebook")
def gradebook() -> Response:
    """Per course: line items as columns, learners as rows, each learner's latest result."""
    sb = sandbox()
    with sb.lock:
        lineitems = copy.deepcopy(
            [i for i in sb.data["lineitems"].values() if not i["deleted"]]
        )
        scores = copy.deepcopy(sb.data["scores"])
    books = []
    for course in sb.world.courses.values():
        columns = [i for i in lineitems if i["context_id"] == course.context_id]
        learners = [e.user_id for e in course.enrolments if vocab.ROLE_LEARNER in e.roles]
        rows = []
        for user_id in learners:
            cells: list[dict[str, Any] | None] = []
            for column in columns:
                history = scores.get(column["local_id"], {}).get(user_id)
                if history:
                    result = result_from_score(history[-1])
                    result["when"] = _when(result["timestamp"])
                    result["count"] = len(history)
                    cells.append(result)
                else:
                    cells.append(None)
            if user_id in NAMED_IDS or any(cells):
                rows.append({"person": sb.world.people[user_id], "cells": cells})
        books.append({"course": course, "columns": columns, "rows": rows})
    page = render_template("gradebook.html", books=books)
    return Response(page, content_type="text/html; charset=utf-8")
