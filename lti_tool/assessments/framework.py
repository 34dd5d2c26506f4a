"""The competency framework as immutable domain objects.

A framework has dimensions; a dimension has levels numbered 1..N; a level has indicators.
Objects are built by :func:`lti_tool.assessments.content.load_framework` from a CASE 1.1
package and never change afterwards. Each object keeps the CASE fields the domain does not
use (``case``) so that :func:`~lti_tool.assessments.content.export_case` reproduces the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


class FrozenRecord(Mapping[str, Any]):
    """An immutable, hashable JSON object: nested objects become records, arrays tuples.

    Used to keep CASE fields verbatim on frozen domain objects; :meth:`thaw` gives back
    plain JSON data.
    """

    __slots__ = ("_items", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = {k: _freeze(v) for k, v in (data or {}).items()}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenRecord):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenRecord({self.thaw()!r})"

    def thaw(self) -> dict[str, Any]:
        """Return the record as plain, mutable JSON data."""
        return {k: _thaw(v) for k, v in self._items.items()}


EMPTY_RECORD = FrozenRecord()


def _freeze(value: Any) -> Any:
    if isinstance(value, FrozenRecord):
        return value
    if isinstance(value, Mapping):
        return FrozenRecord(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenRecord):
        return value.thaw()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Indicator:
    """One observable behaviour ("I pass on any good ideas ...") at one level.

    ``number`` is its position within the level (1-based); ``code`` its readable code
    (``C4.L1.1``).
    """

    identifier: str
    code: str
    statement: str
    level_number: int
    dimension_id: str
    number: int = 1
    level_id: str = ""
    case: FrozenRecord = field(default=EMPTY_RECORD, repr=False)


@dataclass(frozen=True)
class Level:
    """A level of a dimension; ``title`` is the full statement ("Level 2 - Contribute ..."),
    ``short_title`` the title without its "Level N - " prefix."""

    identifier: str
    code: str
    number: int
    title: str
    short_title: str
    indicators: tuple[Indicator, ...]
    case: FrozenRecord = field(default=EMPTY_RECORD, repr=False)


@dataclass(frozen=True)
class Dimension:
    """A dimension (``C4`` Service improvement) with its levels in order 1..N."""

    identifier: str
    code: str
    title: str
    levels: tuple[Level, ...]
    case: FrozenRecord = field(default=EMPTY_RECORD, repr=False)

    @property
    def top_level(self) -> int:
        """The highest level number of the dimension."""
        return len(self.levels)

    def level(self, number: int) -> Level:
        """Return level ``number`` (1-based); ``KeyError`` when it does not exist."""
        if not 1 <= number <= len(self.levels):
            raise KeyError(f"{self.code} has no level {number}")
        return self.levels[number - 1]

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        """All indicators of the dimension, level by level."""
        return tuple(i for level in self.levels for i in level.indicators)

    def indicators_up_to(self, top_level: int) -> tuple[Indicator, ...]:
        """The indicators of levels 1..``top_level``, in order."""
        return tuple(i for i in self.indicators if i.level_number <= top_level)


@dataclass(frozen=True)
class RatingPoint:
    """One point of the 0/1/2 rating scale shared by self-ratings and reviewer ratings."""

    value: int
    label: str


@dataclass(frozen=True)
class ToolRules:
    """The tool's own rules, from ``extensions.lti_tool`` of the framework file."""

    schema_version: int = 1
    level_rule: str = "conjunctive-cumulative"
    rating_scale: tuple[RatingPoint, ...] = (
        RatingPoint(0, "Not yet"),
        RatingPoint(1, "Partly"),
        RatingPoint(2, "Consistently"),
    )
    default_pass_mark_percent: int = 70

    def rating_label(self, value: int) -> str:
        """The label of a rating value ("Consistently" for 2)."""
        for point in self.rating_scale:
            if point.value == value:
                return point.label
        raise KeyError(f"no rating {value}")


@dataclass(frozen=True)
class Framework:
    """A competency framework (one CASE CFDocument).

    ``document`` holds the CFDocument as loaded, ``associations`` the CFAssociations
    verbatim, ``extensions`` the file's ``extensions`` object (``None`` when absent) and
    ``other_sections`` any other package section (CFDefinitions, CFRubrics) verbatim.
    """

    identifier: str
    title: str
    version: str
    dimensions: tuple[Dimension, ...]
    rules: ToolRules = field(default_factory=ToolRules)
    document: FrozenRecord = field(default=EMPTY_RECORD, repr=False)
    associations: tuple[FrozenRecord, ...] = field(default=(), repr=False)
    extensions: FrozenRecord | None = field(default=None, repr=False)
    other_sections: FrozenRecord = field(default=EMPTY_RECORD, repr=False)

    @property
    def primary_dimension(self) -> Dimension:
        """The first dimension (the only one in the shipped framework)."""
        return self.dimensions[0]

    @cached_property
    def _index(self) -> dict[str, Dimension | Level | Indicator]:
        index: dict[str, Dimension | Level | Indicator] = {}
        for dimension in self.dimensions:
            index[dimension.identifier] = dimension
            for level in dimension.levels:
                index[level.identifier] = level
                for indicator in level.indicators:
                    index[indicator.identifier] = indicator
        return index

    def _lookup(self, identifier: str, kind: type) -> Any:
        node = self._index.get(identifier)
        if not isinstance(node, kind):
            raise KeyError(f"no {kind.__name__} {identifier!r} in framework {self.identifier}")
        return node

    def dimension(self, identifier: str) -> Dimension:
        """Return the dimension with this identifier; ``KeyError`` when unknown."""
        return self._lookup(identifier, Dimension)

    def level(self, identifier: str) -> Level:
        """Return the level with this identifier; ``KeyError`` when unknown."""
        return self._lookup(identifier, Level)

    def indicator(self, identifier: str) -> Indicator:
        """Return the indicator with this identifier; ``KeyError`` when unknown."""
        return self._lookup(identifier, Indicator)

    def has_indicator(self, identifier: str) -> bool:
        """Whether ``identifier`` names an indicator of this framework."""
        return isinstance(self._index.get(identifier), Indicator)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        """Every indicator, dimension by dimension and level by level."""
        return tuple(i for d in self.dimensions for i in d.indicators)
