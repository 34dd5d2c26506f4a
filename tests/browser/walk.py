"""Drive the sandbox LMS and the tool in Chromium: launches, forms, and one walk through
every main page of the tool, shared by the accessibility scan and ``make screenshots``.

Everything here works on a Playwright ``Page`` (the tool opened top-level, as in a new
window) or a ``Frame`` (the tool inside the LMS's ``tool`` iframe, on another site): both
have ``goto``, ``wait_for_url`` and ``locator``. Waits are for concrete conditions (a URL,
an element, a text), with generous timeouts: CI runs this on a busy two-core machine.

Two habits keep it reliable with this Chromium (measured here): a frame is navigated by
its parent page (setting the iframe's ``src``, as an LMS's launch form does), not with
``frame.goto`` (commands sent to a cross-site frame while its process changes can fail);
and while a second tab is open, mouse clicks aimed into a cross-site (out-of-process)
iframe are sometimes dropped, so tests that open two tabs use the keyboard and typing in
the frames (``focus()``, ``press()``, ``fill()``), which are routed reliably.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Frame, Page, expect

#: Milliseconds to wait for a page or an element (a whole OIDC launch included).
TIMEOUT = 30_000
TOOL_FRAME = "tool"

Target = Page | Frame
#: ``visit(name, target)`` is called on every main page of the walk.
Visit = Callable[[str, Target], None]


def accept_dialogs(page: Page) -> None:
    """Answer "OK" to confirm() prompts (the educator's "Return"/"Sign off" buttons ask)."""
    page.on("dialog", lambda dialog: dialog.accept())


def tool_frame(page: Page) -> Frame:
    """The LMS page's ``tool`` iframe (the LMS home page must be open)."""
    page.locator(f"iframe[name={TOOL_FRAME}]").wait_for(state="attached", timeout=TIMEOUT)
    frame = page.frame(name=TOOL_FRAME)
    assert frame is not None, "the LMS page has no tool frame"
    return frame


def open_lms(page: Page, stack) -> Frame:
    """The sandbox LMS's course page; returns its (blank) tool frame."""
    page.goto(stack.lms_url + "/", timeout=TIMEOUT)
    return tool_frame(page)


def _on_tool(stack) -> Callable[[str], bool]:
    login = stack.tool_url + "/lti/login"
    return lambda url: url.startswith(stack.tool_url + "/") and not url.startswith(login)


def wait_for_tool_page(target: Target, stack, *, leaving: str | None = None) -> None:
    """Wait until ``target`` shows a page of the tool (after the OIDC redirects and the
    LMS's auto-posted form) with its main content; with ``leaving``, a page at another
    address than that one (the page shown before the launch)."""
    on_tool = _on_tool(stack)
    target.wait_for_url(lambda url: on_tool(url) and url != leaving, timeout=TIMEOUT)
    expect(target.locator("main#main")).to_be_visible(timeout=TIMEOUT)


def launch_url(stack, user: str, link: str | None = None, **params: str) -> str:
    """The LMS's third-party login initiation for ``user`` on ``link``."""
    query = {"user": user, **({"link": link} if link else {}), **params}
    return f"{stack.lms_url}/launch/start?{urlencode(query)}"


def launch(target: Target, stack, user: str, link: str | None = None, **params: str) -> None:
    """Launch the tool in ``target`` as the LMS does (login, auth, auto-posted id_token)
    and wait for the tool's page.

    A frame is navigated by its parent page, as an LMS's launch form does: commands sent
    to a cross-site frame while its process changes can fail."""
    url = launch_url(stack, user, link, **params)
    before = target.url
    if isinstance(target, Frame):
        target.frame_element().evaluate("(frame, url) => { frame.src = url; }", url)
    else:
        target.goto(url, wait_until="commit", timeout=TIMEOUT)
    wait_for_tool_page(target, stack, leaving=before)


def click_launch_button(page: Page, stack, user: str, link: str) -> Frame:
    """Press the LMS course page's launch button for ``user`` on ``link``; the tool opens
    in the LMS's iframe. Returns the frame, showing the tool's page."""
    frame = tool_frame(page)
    before = frame.url
    form = page.locator(
        f"form[target={TOOL_FRAME}]:has(input[name=user][value='{user}'])"
        f":has(input[name=link][value='{link}'])")
    form.locator("button").click(timeout=TIMEOUT)
    wait_for_tool_page(frame, stack, leaving=before)
    return frame


def click_to(target: Target, locator, url: Callable[[str], bool] | str | re.Pattern) -> None:
    """Click ``locator`` and wait for the page it leads to (URL match and main content)."""
    locator.click(timeout=TIMEOUT)
    target.wait_for_url(url, timeout=TIMEOUT)
    expect(target.locator("main#main")).to_be_visible(timeout=TIMEOUT)


def path_is(stack, pattern: str) -> Callable[[str], bool]:
    """A URL predicate: the tool's path (without query) fully matches ``pattern``."""
    compiled = re.compile(pattern)

    def matches(url: str) -> bool:
        parts = urlsplit(url)
        return (url.startswith(stack.tool_url + "/")
                and compiled.fullmatch(parts.path) is not None)

    return matches


# -- answering questions ------------------------------------------------------------------


def question_format(question) -> str:
    """The format of one ``[data-question]`` box, read from its controls."""
    if question.locator("select[data-rank-group]").count():
        return "rank"
    if question.locator("fieldset.rate-row").count():
        return "rate"
    if question.locator("input[type=checkbox]").count():
        return "choose_two"
    return "single_best"


def answer_question(question) -> str:
    """Give a complete answer to one question with the mouse; returns its format."""
    kind = question_format(question)
    if kind == "single_best":
        question.locator("input[type=radio]").first.check(timeout=TIMEOUT)
    elif kind == "choose_two":
        boxes = question.locator("input[type=checkbox]")
        boxes.nth(0).check(timeout=TIMEOUT)
        boxes.nth(1).check(timeout=TIMEOUT)
    elif kind == "rank":
        selects = question.locator("select[data-rank-group]")
        for n in range(selects.count()):
            selects.nth(n).select_option(str(n + 1), timeout=TIMEOUT)
    else:
        rows = question.locator("fieldset.rate-row")
        for n in range(rows.count()):
            rows.nth(n).locator("input[type=radio]").nth(n % 4).check(timeout=TIMEOUT)
    return kind


def answer_all_well(target: Target, stack) -> None:
    """Answer every question on the level page with its best answer (from the question
    bank), so the attempt can reach a level."""
    content = stack.runtime.content
    bank = content.bank_for(content.framework.primary_dimension.identifier)
    questions = target.locator("[data-question]")
    for n in range(questions.count()):
        question = questions.nth(n)
        item = bank.item(question.get_attribute("data-question"))
        name = "q-" + item.identifier
        options = sorted(item.options, key=lambda o: -(o.score or 0))
        if item.format.value == "single_best":
            question.locator(f"input[value='{options[0].identifier}']").check()
        elif item.format.value == "choose_two":
            for option in options[:2]:
                question.locator(f"input[value='{option.identifier}']").check()
        elif item.format.value == "rank":
            for option in item.options:
                question.locator(f"select[name='{name}-rank-{option.identifier}']").select_option(
                    str(option.key_rank))
        else:
            for option in item.options:
                question.locator(f"input[name='{name}-rate-{option.identifier}']"
                                 f"[value='{option.key_rating}']").check()


def write_example(target: Target, text: str = "Our clinic letters were going out late.",
                  *, every_indicator: bool = False) -> None:
    """Fill the level page's new example and link it to the level's first indicator (or to
    each of them)."""
    new = target.locator("fieldset.evidence").last
    new.locator("textarea[id$='-situation']").fill(text)
    new.locator("textarea[id$='-action']").fill("I mapped the steps with the admin team.")
    new.locator("textarea[id$='-outcome']").fill("Letters now go out within two days.")
    boxes = new.locator("fieldset.evidence-indicators > label.choice input[type=checkbox]")
    for n in range(boxes.count() if every_indicator else 1):
        boxes.nth(n).check(timeout=TIMEOUT)


def self_rate_all(target: Target, value: str = "2") -> None:
    """Self-rate every indicator on the level page."""
    ratings = target.locator(f"fieldset.self-rating input[type=radio][value='{value}']")
    for n in range(ratings.count()):
        ratings.nth(n).check(timeout=TIMEOUT)


# -- the walk -----------------------------------------------------------------------------


@dataclass
class Walked:
    """What the walk made: the deep-linked link and the attempt's learner."""

    link_id: str
    learner: str
    educator: str


WALK_TITLE = "Improving our clinic"


def add_activity(target: Target, stack, visit: Visit, educator: str = "instructor-1",
                 context: str = "course-a", title: str = WALK_TITLE) -> str:
    """Deep linking as ``educator``: the settings page, then the response the LMS accepts.
    Returns the new link's id, as the LMS's "Activity added" page names it."""
    launch(target, stack, educator, message="deep_link", context=context)
    expect(target.locator("h1")).to_contain_text("Add a competency assessment")
    visit("educator-deep-link-settings", target)
    target.locator("#field-title").fill(title)
    target.locator("#field-top_level").select_option("2")
    target.locator("#field-target_level").select_option("2")
    for name in ("knowledge_check", "self_assessment", "review_required"):
        target.locator(f"#field-{name}").check()
    target.get_by_role("button", name="Add to course").click(timeout=TIMEOUT)
    target.wait_for_url(stack.lms_url + "/deep-link/return", timeout=TIMEOUT)
    expect(target.locator("h1")).to_have_text("Activity added", timeout=TIMEOUT)
    return target.locator("li code").first.inner_text()


def learner_attempt(target: Target, stack, visit: Visit, learner: str, link: str) -> None:
    """Start, answer a little of each level, review and submit."""
    launch(target, stack, learner, link)
    visit("learner-start", target)
    click_to(target, target.get_by_role("button", name="Start the assessment"),
             path_is(stack, r"/learner/attempts/\d+/levels/1"))
    visit("learner-level-1", target)
    answer_all_well(target, stack)
    self_rate_all(target)
    write_example(target, every_indicator=True)
    click_to(target, target.get_by_role("button", name=re.compile("^Save and continue")),
             path_is(stack, r"/learner/attempts/\d+/levels/2"))
    visit("learner-level-2", target)
    click_to(target, target.get_by_role("button", name=re.compile("^Save and continue")),
             path_is(stack, r"/learner/attempts/\d+/review"))
    visit("learner-review", target)
    submit_attempt(target, stack)
    visit("learner-result-waiting", target)


def submit_attempt(target: Target, stack) -> None:
    """On the review page: confirm and submit."""
    target.locator("#confirm").check(timeout=TIMEOUT)
    click_to(target, target.get_by_role("button", name="Submit my attempt"),
             path_is(stack, r"/learner/attempts/\d+/result"))


def open_review(target: Target, stack, learner_name: str) -> None:
    """From the dashboard, open the learner's attempt for review."""
    click_to(target, target.get_by_role("link", name=f"Review {learner_name}").first,
             path_is(stack, r"/educator/attempts/\d+/review"))


def rate_all(target: Target, value: str) -> None:
    """Rate every indicator on the review screen."""
    radios = target.locator(f"fieldset.rating input[type=radio][value='{value}']")
    for n in range(radios.count()):
        radios.nth(n).check(timeout=TIMEOUT)


def walk(target: Target, page: Page, stack, visit: Visit, *,
         learner: str = "learner-2", learner_name: str = "Sam Patel",
         educator: str = "instructor-1") -> Walked:
    """Every main page, in the order people meet them; ``visit`` sees each one.

    ``target`` is where the tool shows (the LMS's frame, or ``page`` itself); ``page`` is
    the browser tab (for the admin and registration pages, which are not launched)."""
    accept_dialogs(page)
    link = add_activity(target, stack, visit, educator)
    learner_attempt(target, stack, visit, learner, link)

    # The educator returns the attempt for more evidence.
    launch(target, stack, educator, link)
    expect(target.locator("h1")).to_have_text(WALK_TITLE)
    visit("educator-dashboard", target)
    open_review(target, stack, learner_name)
    visit("educator-review", target)
    rate_all(target, "1")
    target.locator("#general_comment").fill("Add an example of a change you led.")
    click_to(target, target.get_by_role("button", name="Return for more evidence"),
             path_is(stack, r"/educator/"))
    history = target.get_by_role("link", name=re.compile(f"^History of {learner_name}"))
    click_to(target, history.first, path_is(stack, r"/educator/attempts/\d+/history"))
    visit("educator-history", target)
    launch(target, stack, educator, link)
    click_to(target, target.get_by_role("link", name=re.compile("^Edit settings")),
             path_is(stack, r"/activity/settings"))
    visit("educator-settings", target)
    course_url = re.sub(r"/activity/settings", "/educator/course", target.url)
    target.goto(course_url, timeout=TIMEOUT)
    expect(target.locator("h1")).to_contain_text("Competency assessments in")
    visit("educator-course", target)

    # The learner sees the return, adds evidence and resubmits.
    launch(target, stack, learner, link)
    expect(target.locator("main")).to_contain_text("returned your attempt")
    visit("learner-start-returned", target)
    click_to(target, target.get_by_role("link", name="Update your attempt"),
             path_is(stack, r"/learner/attempts/\d+/levels/\d+"))
    visit("learner-level-returned", target)
    review_link = target.locator("nav.level-nav").get_by_role("link", name="Review and submit")
    click_to(target, review_link, path_is(stack, r"/learner/attempts/\d+/review"))
    submit_attempt(target, stack)

    # The educator signs it off; the learner sees the level and the record.
    launch(target, stack, educator, link)
    open_review(target, stack, learner_name)
    rate_all(target, "2")
    click_to(target, target.get_by_role("button", name="Sign off"), path_is(stack, r"/educator/"))
    click_to(target, target.get_by_role("link", name=f"Open {learner_name}'s attempt"),
             path_is(stack, r"/educator/attempts/\d+/review"))
    expect(target.locator("#override-form")).to_be_visible()
    visit("educator-review-final", target)
    launch(target, stack, learner, link)
    click_to(target, target.get_by_role("link", name="See your result"),
             path_is(stack, r"/learner/attempts/\d+/result"))
    expect(target.locator("#headline")).to_contain_text("You achieved Level 1")
    visit("learner-result", target)
    click_to(target, target.get_by_role("link", name="Printable record"),
             path_is(stack, r"/learner/attempts/\d+/record"))
    visit("learner-record", target)

    # A refused launch: the tool's error page, in the frame.
    launch(target, stack, learner, link, fault="expired")
    expect(target.locator("main")).to_contain_text("Error code")
    visit("error-page", target)

    open_admin_page(page, stack)
    visit("admin", page)
    visit("registration-confirm", open_registration(page, stack))
    return Walked(link, learner, educator)


def open_admin_page(page: Page, stack) -> None:
    """The admin page, top-level, with a token as ``lti-tool admin-token`` issues it."""
    from lti_tool.web.admin import admin_url, issue_admin_token

    token = issue_admin_token(stack.runtime.settings.secret_key, hours=1)
    page.goto(admin_url(stack.tool_url, token), timeout=TIMEOUT)
    expect(page.locator("main#main h1")).to_be_visible(timeout=TIMEOUT)


def open_registration(page: Page, stack, variant: str = "canvas") -> Frame:
    """Dynamic registration as an LMS admin starts it: the LMS frames the tool's
    single-use registration URL; returns that frame, showing the confirm page."""
    from lti_tool.services.registrations import create_invite, invite_url

    with stack.runtime.session() as db:
        token, _ = create_invite(db)
    query = urlencode({"variant": variant, "tool_url": invite_url(stack.tool_url, token)})
    page.goto(f"{stack.lms_url}/register/start?{query}", timeout=TIMEOUT)
    page.locator("iframe[name=registration]").wait_for(state="attached", timeout=TIMEOUT)
    frame = page.frame(name="registration")
    assert frame is not None
    frame.wait_for_url(_on_tool(stack), timeout=TIMEOUT)
    expect(frame.locator("#confirm-form")).to_be_visible(timeout=TIMEOUT)
    return frame


# -- phone width --------------------------------------------------------------------------

PHONE_WIDTH = 375


def sideways_scroll(target: Target, width: int = PHONE_WIDTH) -> int:
    """How many CSS pixels the page body scrolls sideways when ``target`` is ``width``
    pixels wide (0: it fits). A frame is narrowed by its parent (as an LMS app on a phone
    shows it); a page by its viewport. The original size is restored before returning."""
    fits = "width => document.documentElement.clientWidth === width"
    original = target.evaluate("() => document.documentElement.clientWidth")
    if isinstance(target, Frame):
        element = target.frame_element()
        inline = element.evaluate(
            "(frame, width) => { const was = frame.style.width;"
            " frame.style.width = width + 'px'; return was; }", width)

        def restore() -> None:
            element.evaluate("(frame, was) => { frame.style.width = was; }", inline)
    else:
        before = target.viewport_size
        target.set_viewport_size({"width": width, "height": 800})

        def restore() -> None:
            target.set_viewport_size(before)
    try:
        # A frame's own viewport follows its element a moment later (another process).
        target.wait_for_function(fits, arg=width, timeout=TIMEOUT)
        return target.evaluate(
            "() => { const s = document.scrollingElement;"
            " return Math.max(0, s.scrollWidth - s.clientWidth - 1); }")
    finally:
        restore()
        target.wait_for_function(fits, arg=original, timeout=TIMEOUT)
