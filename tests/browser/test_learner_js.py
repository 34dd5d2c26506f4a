"""learner.js in Chromium, inside the LMS's iframe: autosave after a change, a stale second
tab refused (409) without losing what it typed, and the warning about an NHS number.

Only one tab is ever clicked into with the mouse: with two tabs open, this headless
Chromium sometimes drops mouse clicks aimed into a cross-site (out-of-process) iframe, so
the second tab is driven with the keyboard and typing, which it routes reliably.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser import walk

pytestmark = pytest.mark.browser

#: learner.js saves 4 s after the last change; a busy CI machine gets plenty more.
SAVE_TIMEOUT = 30_000
SAVED = re.compile(r"^Saved at \d\d:\d\d\.$")


def open_level_one(page, stack, user: str, link: str = "rl-a1"):
    """The LMS with ``user``'s first level page of ``link`` in its frame (a new attempt).
    Tests share one stack, so each uses a user (or link) of its own."""
    walk.accept_dialogs(page)
    frame = walk.open_lms(page, stack)
    walk.launch(frame, stack, user, link)
    walk.click_to(frame, frame.get_by_role("button", name="Start the assessment"),
                  walk.path_is(stack, r"/learner/attempts/\d+/levels/1"))
    return frame


def reload(frame) -> None:
    with frame.expect_navigation(timeout=walk.TIMEOUT):
        frame.evaluate("() => { location.reload(); }")
    expect(frame.locator("main#main")).to_be_visible()


def new_example(frame, part: str):
    """A textarea (situation, action, outcome) of the page's "Add an example" box."""
    return frame.locator("fieldset.evidence").last.locator(f"textarea[id$='-{part}']")


def test_changes_are_saved_automatically_and_survive_a_reload(page, shared_stack):
    frame = open_level_one(page, shared_stack, "learner-1")
    question = frame.locator("[data-question]").first
    walk.answer_question(question)
    new_example(frame, "situation").fill("Clinic letters were going out a week late.")

    status = frame.locator("#save-status")
    expect(status).to_have_text(SAVED, timeout=SAVE_TIMEOUT)

    reload(frame)
    expect(question.locator(".status")).to_have_text("Answered")
    expect(frame.locator("textarea[id$='-situation']").first).to_have_value(
        "Clinic letters were going out a week late.")


def test_a_stale_tab_is_refused_and_keeps_what_it_typed(page, shared_stack):
    stack = shared_stack
    first = open_level_one(page, stack, "learner-2")

    # The same learner opens the activity again in a second tab and saves there.
    second_tab = page.context.new_page()
    walk.accept_dialogs(second_tab)
    second = walk.open_lms(second_tab, stack)
    walk.launch(second, stack, "learner-2", "rl-a1")
    resume = second.get_by_role("link", name="Continue your attempt")
    resume.focus()
    resume.press("Enter")
    second.wait_for_url(walk.path_is(stack, r"/learner/attempts/\d+/levels/1"),
                        timeout=walk.TIMEOUT)
    new_example(second, "situation").fill("Saved from the second tab.")
    save = second.locator("button.secondary[name=action][value=save]")
    save.focus()
    save.press("Enter")
    second.wait_for_url(lambda url: "saved=1" in url, timeout=walk.TIMEOUT)

    # The first tab, opened before that save, changes its page: its autosave is refused.
    situation = new_example(first, "situation")
    with page.expect_response(
        lambda r: r.request.method == "POST"
        and re.fullmatch(r"/learner/attempts/\d+/levels/1", urlsplit(r.url).path) is not None,
        timeout=SAVE_TIMEOUT,
    ) as answer:
        situation.fill("Typed in the first tab, after the second tab saved.")
    assert answer.value.status == 409
    assert answer.value.json()["error"] == "attempt_stale"

    notice = first.locator("#stale-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Another tab saved newer work")
    expect(notice).to_contain_text("Your text is still on this page")
    expect(first.locator("#save-status")).to_contain_text(
        "Not saved: another tab saved newer work")
    expect(situation).to_have_value("Typed in the first tab, after the second tab saved.")

    # The newer work is intact.
    reload(second)
    expect(second.locator("textarea[id$='-situation']").first).to_have_value(
        "Saved from the second tab.")


def test_a_valid_nhs_number_is_pointed_out_before_saving(page, shared_stack):
    frame = open_level_one(page, shared_stack, "learner-3")
    action = new_example(frame, "action")
    situation = new_example(frame, "situation")
    action_note = frame.locator(f"[data-identifiable-for='{action.get_attribute('id')}']")
    situation_note = frame.locator(
        f"[data-identifiable-for='{situation.get_attribute('id')}']")

    # 943 476 5918 fails the NHS number check digit; 943 476 5919 passes it. The action is
    # typed first, so its (debounced) check has run once the situation's warning shows.
    action.fill("I rang the number 943 476 5918 about the clinic times.")
    situation.fill("A patient, NHS number 943 476 5919, waited three weeks for a letter.")

    expect(situation_note).to_contain_text("“943 476 5919” looks like an NHS number.")
    expect(situation_note).to_contain_text("Remove anything that could identify a patient")
    expect(action_note).to_have_text("")

    # The server agrees: the autosave keeps the example back until the learner decides.
    example = frame.locator("fieldset.evidence").last
    expect(frame.locator("#save-status")).to_contain_text(
        "Saved, except 1 example that may identify someone", timeout=SAVE_TIMEOUT)
    expect(example.locator("[data-identifiable-server]")).to_contain_text(
        "this example may identify someone")
    expect(example.get_by_role("button", name="Save anyway")).to_be_visible()


NHS_EXAMPLE = "A patient, NHS number 943 476 5919, waited three weeks for a letter."


def test_moving_to_another_level_keeps_an_example_held_back(page, shared_stack):
    stack = shared_stack
    frame = open_level_one(page, stack, "learner-1", link="rl-b1")
    walk.write_example(frame, NHS_EXAMPLE)
    level_two = frame.locator("nav.level-nav").get_by_role("link", name=re.compile("^Level 2"))

    with page.expect_response(
        lambda r: r.request.method == "POST" and "/levels/1" in r.url, timeout=SAVE_TIMEOUT,
    ) as answer:
        level_two.click(timeout=walk.TIMEOUT)
    assert answer.value.json()["held_back"], "the server should hold the example back"
    # learner.js decides at once, on the answer: a page change would start within moments.
    try:
        frame.wait_for_url(walk.path_is(stack, r"/learner/attempts/\d+/levels/2"),
                           wait_until="commit", timeout=3000)
        moved = True
    except PlaywrightTimeout:
        moved = False
    assert not moved, "left the page although the example with an NHS number was not saved"
    expect(frame.locator("[data-identifiable-server]")).to_be_visible()
    expect(new_example(frame, "situation")).to_have_value(NHS_EXAMPLE)
