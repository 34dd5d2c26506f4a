"""With ``log_format = "json"`` every log line is one JSON object, and nothing secret or
personal reaches the logs: no id_token, registration token, invite, admin token, launch
session id, nor a learner's name or email, through a refused launch, a good launch, a
dynamic registration and the admin page."""

from __future__ import annotations

import io
import json
import logging
import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from lti_tool.services.registrations import create_invite, invite_url
from lti_tool.web.admin import issue_admin_token
from tests.conftest import TEST_SECRET
from tests.support.live import start_stack
from tests.support.lti_client import LtiBrowser, forms_of


@pytest.fixture
def stack(backend, tool_private_key):
    made = start_stack(backend, tool_private_key, log_format="json")
    yield made
    made.stop()


@pytest.fixture
def log_lines(stack):
    """What the tool's log handler writes, captured."""
    handler = next(h for h in logging.getLogger("lti_tool").handlers
                   if getattr(h, "_lti_tool", False))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: buffer.getvalue().splitlines()
    handler.setStream(previous)


def launch_capturing_the_id_token(stack) -> tuple[str, requests.Response]:
    browser = LtiBrowser(stack)
    page = browser.http.get(browser.start_url(user="learner-1", link="rl-a1",
                                              message="resource"), timeout=30)
    form = forms_of(page.text)[0]
    answer = browser.http.post(urljoin(page.url, form["action"]), data=form["fields"],
                               allow_redirects=False, timeout=30)
    return form["fields"]["id_token"], answer


def register_capturing_the_secrets(stack) -> list[str]:
    with stack.runtime.session() as db:
        token, _ = create_invite(db)
    http = requests.Session()
    lms_page = http.get(f"{stack.lms_url}/register/start", timeout=30,
                        params={"variant": "canvas",
                                "tool_url": invite_url(stack.tool_url, token)})
    frame = unescape(re.search(r'<iframe[^>]*\bsrc="([^"]+)"', lms_page.text).group(1))
    query = parse_qs(urlsplit(frame).query)
    page = http.get(frame, timeout=30)
    form = next(f for f in forms_of(page.text) if f["id"] == "confirm-form")
    # The sandbox is registered already (the launch above used it): link beside it.
    done = http.post(stack.tool_url + form["action"],
                     data={**form["fields"], "link_existing": "yes"}, timeout=30)
    assert done.status_code == 200
    return [token, query["registration_token"][0], form["fields"]["csrf_token"]]


def test_json_logs_carry_no_tokens_or_personal_data(stack, log_lines):
    id_token, accepted = launch_capturing_the_id_token(stack)
    assert accepted.status_code == 303
    session_id = parse_qs(urlsplit(accepted.headers["Location"]).query)["ls"][0]

    # The same id_token again is refused (replay), and a forged one too.
    replay = requests.post(f"{stack.tool_url}/lti/launch", timeout=30,
                           data={"id_token": id_token, "state": "s"})
    assert replay.status_code >= 400
    claims = jwt.decode(id_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "nonce": "n2"}, "not-the-platform-key-" + "x" * 20,
                        algorithm="HS256")
    assert requests.post(f"{stack.tool_url}/lti/launch", data={"id_token": forged,
                                                               "state": "s"},
                         timeout=30).status_code >= 400

    secrets = register_capturing_the_secrets(stack)
    admin_token = issue_admin_token(TEST_SECRET, hours=1)
    assert requests.get(f"{stack.tool_url}/admin", params={"token": admin_token},
                        timeout=30).status_code == 200
    assert requests.get(f"{stack.tool_url}/admin", params={"token": admin_token + "x"},
                        timeout=30).status_code == 401

    lines = log_lines()
    assert len(lines) >= 4, lines  # launch accepted, refusals, registration steps
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
    text = "\n".join(lines)
    never = [id_token, id_token.split(".")[1], forged, session_id, admin_token, *secrets,
             "alex.morgan@example.org", "Alex", "Morgan"]
    for value in never:
        assert value not in text, f"{value[:20]}... reached the logs"
    messages = " ".join(e["message"] for e in entries)
    assert "registration stored" in messages and "launch" in messages
