"""Situational-judgement questions: the bank, learners' answers and item scoring.

Scoring rules (content/assessments format):

- ``single_best``: the learner picks one option and earns its score; maximum = the highest
  option score.
- ``choose_two``: the learner picks two different options and earns the sum of their
  scores; maximum = the sum of the two highest scores.
- ``rank``: the learner orders every option (most appropriate first); each option earns
  ``max(0, (n - 1) - |learner_rank - keyRank|)``; maximum = ``n * (n - 1)``.
- ``rate_each``: the learner rates every option 1..4; each option earns
  ``3 - |rating - keyRating|``; maximum = ``3 * n``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class ItemFormat(StrEnum):
    """How a learner answers an item."""

    SINGLE_BEST = "single_best"
    CHOOSE_TWO = "choose_two"
    RANK = "rank"
    RATE_EACH = "rate_each"


#: The rating scale of ``rate_each`` items (1 very ineffective .. 4 very effective).
RATE_EACH_SCALE = (1, 2, 3, 4)


@dataclass(frozen=True)
class Option:
    """One response option. Exactly one of ``score`` (single_best, choose_two),
    ``key_rank`` (rank) or ``key_rating`` (rate_each) is set."""

    identifier: str
    text: str
    feedback: str
    score: int | None = None
    key_rank: int | None = None
    key_rating: int | None = None


@dataclass(frozen=True)
class Item:
    """One situational-judgement question, keyed to one indicator."""

    identifier: str
    indicator_id: str
    format: ItemFormat
    setting: str
    scenario: str
    prompt: str
    options: tuple[Option, ...]

    @property
    def maximum(self) -> int:
        """The highest score a learner can earn on this item."""
        n = len(self.options)
        if self.format is ItemFormat.SINGLE_BEST:
            return max(o.score or 0 for o in self.options)
        if self.format is ItemFormat.CHOOSE_TWO:
            best_two = sorted((o.score or 0 for o in self.options), reverse=True)[:2]
            return sum(best_two)
        if self.format is ItemFormat.RANK:
            return n * (n - 1)
        return 3 * n

    def option(self, identifier: str) -> Option:
        """Return the option with this identifier; ``KeyError`` when unknown."""
        for option in self.options:
            if option.identifier == identifier:
                return option
        raise KeyError(f"item {self.identifier} has no option {identifier!r}")

    @property
    def option_ids(self) -> tuple[str, ...]:
        """The option identifiers in the order the bank gives them."""
        return tuple(o.identifier for o in self.options)


@dataclass(frozen=True)
class QuestionBank:
    """A versioned bank of items for one framework (``framework_id`` is its CFDocument
    identifier). ``dimension_ids`` are the dimensions its items cover."""

    identifier: str
    version: str
    framework_id: str
    items: tuple[Item, ...]
    title: str = ""
    language: str = "en"
    dimension_ids: tuple[str, ...] = field(default=())

    @cached_property
    def _by_id(self) -> dict[str, Item]:
        return {item.identifier: item for item in self.items}

    def item(self, identifier: str) -> Item:
        """Return the item with this identifier; ``KeyError`` when unknown."""
        return self._by_id[identifier]

    def items_for(self, indicator_id: str) -> tuple[Item, ...]:
        """The items keyed to one indicator, in bank order."""
        return tuple(i for i in self.items if i.indicator_id == indicator_id)


class InvalidAnswer(ValueError):
    """A learner's answer that does not fit its item. ``code`` is stable; ``message`` is
    fit to show to the learner."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Answer:
    """A learner's answer in canonical form.

    - single_best: ``choices`` = (the chosen option,)
    - choose_two: ``choices`` = the two chosen options, in the item's option order
    - rank: ``choices`` = every option, most appropriate first
    - rate_each: ``ratings`` = (option, rating 1..4) for every option, in option order
    """

    format: ItemFormat
    choices: tuple[str, ...] = ()
    ratings: tuple[tuple[str, int], ...] = ()

    def to_raw(self) -> str | list[str] | dict[str, int]:
        """The answer as plain JSON, in the shape :func:`parse_answer` accepts."""
        if self.format is ItemFormat.SINGLE_BEST:
            return self.choices[0]
        if self.format is ItemFormat.RATE_EACH:
            return dict(self.ratings)
        return list(self.choices)

    def rating(self, option_id: str) -> int | None:
        """The rating given to one option (rate_each), or ``None``."""
        return dict(self.ratings).get(option_id)


def _option_id(item: Item, value: Any) -> str:
    if not isinstance(value, str) or value not in item.option_ids:
        raise InvalidAnswer("unknown_option", "That option is not one of this question's.")
    return value


def _as_list(raw: Any) -> list[Any] | None:
    return list(raw) if isinstance(raw, list | tuple) else None


def _rating(value: Any) -> int:
    # Form posts carry strings; JSON carries ints. Booleans are ints in Python: refuse them.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value not in RATE_EACH_SCALE:
        raise InvalidAnswer("rating_out_of_range", "Rate each option from 1 to 4.")
    return value


def parse_answer(item: Item, raw: Any) -> Answer:
    """Turn a raw answer from a web form or JSON into a canonical :class:`Answer`.

    Shapes: single_best ``"b"`` (or ``["b"]``); choose_two ``["a", "c"]``; rank
    ``["b", "a", "c"]`` (most appropriate first, every option once); rate_each
    ``{"a": 3, "b": 1, ...}`` (every option, 1..4; digit strings accepted).
    Raises :class:`InvalidAnswer` with a stable code.
    """
    fmt = item.format
    if fmt is ItemFormat.SINGLE_BEST:
        values = _as_list(raw)
        if values is not None and len(values) == 1:
            raw = values[0]
        if not isinstance(raw, str):
            raise InvalidAnswer("choose_one", "Choose one option.")
        return Answer(fmt, choices=(_option_id(item, raw),))
    if fmt is ItemFormat.CHOOSE_TWO:
        values = _as_list(raw)
        if values is None or len(values) != 2:
            raise InvalidAnswer("choose_two", "Choose exactly two options.")
        chosen = {_option_id(item, v) for v in values}
        if len(chosen) != 2:
            raise InvalidAnswer("choose_two", "Choose two different options.")
        return Answer(fmt, choices=tuple(o for o in item.option_ids if o in chosen))
    if fmt is ItemFormat.RANK:
        values = _as_list(raw)
        if values is None:
            raise InvalidAnswer("rank_all", "Put every option in order.")
        order = tuple(_option_id(item, v) for v in values)
        if sorted(order) != sorted(item.option_ids):
            raise InvalidAnswer("rank_all", "Put every option in order, each once.")
        return Answer(fmt, choices=order)
    if not isinstance(raw, Mapping):
        raise InvalidAnswer("rate_all", "Rate every option.")
    for key in raw:
        _option_id(item, key)
    missing = [o for o in item.option_ids if o not in raw]
    if missing:
        raise InvalidAnswer("rate_all", "Rate every option.")
    return Answer(fmt, ratings=tuple((o, _rating(raw[o])) for o in item.option_ids))


@dataclass(frozen=True)
class OptionFeedback:
    """What the learner sees about one option after scoring: whether they chose it (or
    the rank/rating they gave), the points it earned them, and why."""

    option_id: str
    feedback: str
    points: int
    chosen: bool = False
    learner_rank: int | None = None
    learner_rating: int | None = None


@dataclass(frozen=True)
class ItemScore:
    """The score of one item (0 when unanswered) with feedback for every option."""

    item_id: str
    score: int
    maximum: int
    answered: bool
    feedback: tuple[OptionFeedback, ...]


def score_item(item: Item, answer: Answer | None) -> ItemScore:
    """Score an answer (``None`` = unanswered: 0 points, feedback still given)."""
    if answer is not None and answer.format is not item.format:
        raise InvalidAnswer("wrong_format", "This answer belongs to another kind of question.")
    n = len(item.options)
    feedback: list[OptionFeedback] = []
    for option in item.options:
        chosen, points, rank, rating = False, 0, None, None
        if answer is not None:
            if item.format in (ItemFormat.SINGLE_BEST, ItemFormat.CHOOSE_TWO):
                chosen = option.identifier in answer.choices
                points = (option.score or 0) if chosen else 0
            elif item.format is ItemFormat.RANK:
                rank = answer.choices.index(option.identifier) + 1
                points = max(0, (n - 1) - abs(rank - (option.key_rank or 0)))
            else:
                rating = answer.rating(option.identifier)
                points = 3 - abs((rating or 0) - (option.key_rating or 0))
        feedback.append(
            OptionFeedback(option.identifier, option.feedback, points, chosen, rank, rating)
        )
    return ItemScore(
        item_id=item.identifier,
        score=sum(f.points for f in feedback),
        maximum=item.maximum,
        answered=answer is not None,
        feedback=tuple(feedback),
    )
