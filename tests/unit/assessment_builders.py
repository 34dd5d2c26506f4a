"""Builders shared by the domain's unit tests: a stand-in bank, settings, attempts and a
small language for naming indicators. Imported by the test modules (tests/unit is on
sys.path under pytest's default import mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lti_tool.assessments import (
    ActivitySettings,
    Attempt,
    Evidence,
    Framework,
    Item,
    ItemFormat,
    Option,
    QuestionBank,
    parse_answer,
)

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SYNTHETIC = FIXTURES / "synthetic"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def simple_bank(framework: Framework) -> QuestionBank:
    """Three single-best items per indicator; options "best" (2), "near" (1), "poor" (0).

    So an indicator's maximum is 6 and at 70% it needs 5 (4.2 rounded up): best, best,
    near passes; best, best, poor (4) does not.
    """
    items = []
    for indicator in framework.indicators:
        for n in range(3):
            items.append(
                Item(
                    identifier=f"{indicator.code}-{n}",
                    indicator_id=indicator.identifier,
                    format=ItemFormat.SINGLE_BEST,
                    setting="ward",
                    scenario="A situation.",
                    prompt="What should you do?",
                    options=(
                        Option("best", "Best.", "Why best.", score=2),
                        Option("near", "Nearly.", "Why nearly.", score=1),
                        Option("poor", "Poor.", "Why poor.", score=0),
                    ),
                )
            )
    return QuestionBank(
        identifier="simple",
        version="1",
        framework_id=framework.identifier,
        items=tuple(items),
        dimension_ids=tuple(d.identifier for d in framework.dimensions),
    )


def settings_for(framework: Framework, **overrides: object) -> ActivitySettings:
    """Settings on the primary dimension, every level, target 2, knowledge check and
    self-assessment counting, no review, pass mark 70%."""
    dimension = framework.primary_dimension
    values: dict[str, object] = {
        "dimension_id": dimension.identifier,
        "top_level": dimension.top_level,
        "target_level": 2,
        "knowledge_check": True,
        "self_assessment": True,
        "review_required": False,
        "pass_mark_percent": 70,
    }
    values.update(overrides)
    return ActivitySettings(**values)  # type: ignore[arg-type]


class Clock:
    """Hands out strictly increasing times (the domain never reads a clock)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def new_attempt(settings: ActivitySettings, clock: Clock, number: int = 1) -> Attempt:
    """A fresh draft attempt."""
    attempt, _ = Attempt.start(
        framework_version="1.0.0",
        bank_version="1.0.0",
        settings=settings,
        actor="learner-1",
        at=clock(),
        number=number,
    )
    return attempt


def select(framework: Framework, spec: str) -> list[str]:
    """Indicator ids named by a small spec over the primary dimension.

    ``"L1 L2 -L2.5"``: every indicator of levels 1 and 2 except indicator 5 of level 2.
    ``"all"`` is every indicator; ``""`` none.
    """
    dimension = framework.primary_dimension
    chosen: dict[str, None] = {}
    for token in spec.split():
        remove = token.startswith("-")
        token = token.lstrip("-")
        if token == "all":
            ids = [i.identifier for i in dimension.indicators]
        elif "." in token:
            level, n = token[1:].split(".")
            ids = [dimension.level(int(level)).indicators[int(n) - 1].identifier]
        else:
            ids = [i.identifier for i in dimension.level(int(token[1:])).indicators]
        for identifier in ids:
            if remove:
                chosen.pop(identifier, None)
            else:
                chosen[identifier] = None
    return list(chosen)


def answer_items(attempt: Attempt, bank: QuestionBank, indicator_id: str, options: list[str],
                 clock: Clock) -> None:
    """Answer an indicator's single-best items with these option ids, in order."""
    for item, option in zip(bank.items_for(indicator_id), options, strict=True):
        attempt.record_answer(item, parse_answer(item, option), actor="learner-1", at=clock())


def add_evidence(attempt: Attempt, indicator_ids: list[str], clock: Clock,
                 identifier: str = "ev-1", complete: bool = True) -> None:
    """One evidence entry supporting all of ``indicator_ids``."""
    attempt.save_evidence(
        Evidence(
            identifier=identifier,
            situation="On a busy ward round the handover sheet kept missing changes.",
            action="I suggested a shared checklist to the team.",
            outcome="Handover errors fell over the month." if complete else "",
            indicator_ids=tuple(indicator_ids),
        ),
        actor="learner-1",
        at=clock(),
    )
