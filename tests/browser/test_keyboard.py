"""Keyboard only, inside the LMS's iframe: the skip link works, every question format can be
answered with Tab, Space, arrow keys and typing, the page saves with Enter on its button,
and every control shows where the focus is on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import walk

pytestmark = pytest.mark.browser

#: Where the focus is, whether it is the wanted element, and whether it can be seen.
FOCUS_STATE = """(target) => {
  const el = document.activeElement;
  if (!el || el === document.body) { return {inFrame: false}; }
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const ring = el.matches(":focus-visible") && (
    (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
    || style.boxShadow !== "none");
  return {inFrame: true, here: el === target, visible: ring && box.width > 0 && box.height > 0,
          name: el.tagName.toLowerCase() + " " + (el.id || el.name
                || el.textContent.trim().slice(0, 40))};
}"""


class Keyboard:
    """Tab through the tool's frame like a keyboard user, noting any invisible focus."""

    def __init__(self, page, frame) -> None:
        self.page = page
        self.frame = frame
        self.invisible: list[str] = []

    def enter_frame(self) -> None:
        """Focus the LMS's iframe, as Tab from the LMS page does."""
        self.page.locator(f"iframe[name={walk.TOOL_FRAME}]").focus()

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def state(self) -> dict:
        return self.frame.evaluate(FOCUS_STATE, None)

    def tab_to(self, locator, *, limit: int = 400) -> None:
        """Press Tab until ``locator`` has the focus (it must be reachable from here)."""
        target = locator.element_handle(timeout=walk.TIMEOUT)
        if self.frame.evaluate(FOCUS_STATE, target).get("here"):
            return
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            state = self.frame.evaluate(FOCUS_STATE, target)
            assert state["inFrame"], f"Tab left the tool before reaching {locator}"
            if not state["visible"]:
                self.invisible.append(state["name"])
            if state["here"]:
                return
        raise AssertionError(f"{locator} not reached with {limit} Tab presses")


def first_of_format(frame, kind: str):
    """The level page's first question in ``kind`` format."""
    questions = frame.locator("[data-question]")
    for n in range(questions.count()):
        if walk.question_format(questions.nth(n)) == kind:
            return questions.nth(n)
    raise AssertionError(f"no {kind} question on this page")


def test_learner_answers_every_format_and_saves_with_the_keyboard(page, stack):
    walk.accept_dialogs(page)
    frame = walk.open_lms(page, stack)
    walk.launch(frame, stack, "learner-1", "rl-a1")
    keys = Keyboard(page, frame)

    # The skip link comes first, is visible when focused, and moves focus to the content.
    keys.enter_frame()
    skip = frame.locator("a.skip-link")
    keys.tab_to(skip, limit=1)
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, box
    keys.press("Enter")
    expect(frame.locator("main#main")).to_be_focused()
    keys.press("Tab")
    assert frame.locator("main#main").evaluate(
        "main => main.contains(document.activeElement)"), keys.state()

    keys.tab_to(frame.get_by_role("button", name="Start the assessment"))
    keys.press("Enter")
    frame.wait_for_url(walk.path_is(stack, r"/learner/attempts/\d+/levels/1"),
                       timeout=walk.TIMEOUT)
    expect(frame.locator("main#main")).to_be_visible()
    keys.enter_frame()

    single = first_of_format(frame, "single_best")
    radios = single.locator("input[type=radio]")
    keys.tab_to(radios.first)
    keys.press("Space")
    keys.press("ArrowDown")
    expect(radios.nth(1)).to_be_checked()
    expect(radios.first).not_to_be_checked()

    two = first_of_format(frame, "choose_two")
    boxes = two.locator("input[type=checkbox]")
    keys.tab_to(boxes.nth(0))
    keys.press("Space")
    keys.tab_to(boxes.nth(1), limit=1)
    keys.press("Space")
    expect(boxes.nth(0)).to_be_checked()
    expect(boxes.nth(1)).to_be_checked()

    rank = first_of_format(frame, "rank")
    selects = rank.locator("select")
    for n in range(selects.count()):
        keys.tab_to(selects.nth(n))
        keys.press(str(n + 1))  # type-ahead: "1 (most appropriate)", "2", ...
        expect(selects.nth(n)).to_have_value(str(n + 1))

    rate = first_of_format(frame, "rate")
    rows = rate.locator("fieldset.rate-row")
    for n in range(rows.count()):
        choices = rows.nth(n).locator("input[type=radio]")
        keys.tab_to(choices.first)
        keys.press("Space")
        for _ in range(n % 4):
            keys.press("ArrowRight")
        expect(choices.nth(n % 4)).to_be_checked()

    answered = [q.get_attribute("data-question") for q in (single, two, rank, rate)]
    keys.tab_to(frame.locator("button.secondary[name=action][value=save]"))
    keys.press("Enter")
    frame.wait_for_url(lambda url: "saved=1" in url, timeout=walk.TIMEOUT)
    for identifier in answered:
        question = frame.locator(f"[data-question='{identifier}']")
        expect(question.locator(".status")).to_have_text("Answered")

    assert not keys.invisible, f"focus not visible on: {sorted(set(keys.invisible))}"
