"""Loading and checking content files: the framework (CASE 1.1) and the question banks.

Every problem is a :class:`ContentError` whose text names the file, the JSON path and the
reason, e.g. ``content/framework.json: $.CFItems[3].fullStatement: Missing data for
required field.`` The tool refuses to start on one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from .framework import (
    Dimension,
    Framework,
    FrozenRecord,
    Indicator,
    Level,
    RatingPoint,
    ToolRules,
)
from .questions import Item, ItemFormat, Option, QuestionBank
from .schemas import CFPackageSchema, QuestionBankSchema

#: Items each indicator needs at least.
MIN_ITEMS_PER_INDICATOR = 3

#: Option counts per format (inclusive).
OPTION_COUNTS = {
    ItemFormat.SINGLE_BEST: (3, 5),
    ItemFormat.CHOOSE_TWO: (4, 6),
    ItemFormat.RANK: (3, 5),
    ItemFormat.RATE_EACH: (3, 5),
}

#: The option key each format uses.
OPTION_KEY = {
    ItemFormat.SINGLE_BEST: "score",
    ItemFormat.CHOOSE_TWO: "score",
    ItemFormat.RANK: "keyRank",
    ItemFormat.RATE_EACH: "keyRating",
}


class ContentError(Exception):
    """A content file the tool cannot use. ``str()`` is ``"<file>: <path>: <reason>"``."""

    def __init__(self, file: str | Path, path: str, reason: str) -> None:
        self.file = str(file)
        self.path = path
        self.reason = reason
        super().__init__(f"{self.file}: {path}: {reason}")


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(*segments: str | int) -> str:
    """``json_path("CFItems", 3, "fullStatement")`` -> ``$.CFItems[3].fullStatement``."""
    path = "$"
    for segment in segments:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif _PLAIN_KEY.match(segment):
            path += f".{segment}"
        else:
            path += f"[{json.dumps(segment)}]"
    return path


def _first_error(messages: Any, segments: tuple[str | int, ...] = ()) -> tuple[str, str]:
    """The first (path, reason) in marshmallow's nested error messages."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                return _first_error(value, segments)
            return _first_error(value, (*segments, key))
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, str):
            return json_path(*segments), first
        return _first_error(first, segments)
    return json_path(*segments), str(messages)


def _read_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(file, "$", "File not found.") from None
    except UnicodeDecodeError:
        raise ContentError(file, "$", "Not UTF-8 text.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContentError(
            file, "$", f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None


def _validate(schema: Schema, data: Any, file: Path) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        path, reason = _first_error(exc.messages)
        raise ContentError(file, path, reason) from None


# -- framework ---------------------------------------------------------------------------

_LEVEL_PREFIX = re.compile(r"^Level\s+\d+\s*[-\u2013\u2014:]\s*")

#: Package sections the tool does not use but keeps for the export.
_OTHER_SECTIONS = ("CFDefinitions", "CFRubrics")

_PARENT_TYPE = {"Dimension": "CFDocument", "Level": "Dimension", "Indicator": "Level"}


def _a(noun: str, start: bool = False) -> str:
    article = "an" if noun[0] in "AEIOU" else "a"
    return f"{article.capitalize() if start else article} {noun}"


@dataclass
class _Child:
    """An isChildOf association seen from the parent: which item, where, in what place."""

    item_index: int
    assoc_index: int
    sequence: int


def load_framework(path: str | Path) -> Framework:
    """Load and check a CASE 1.1 framework package; raise :class:`ContentError`."""
    file = Path(path)
    raw = _read_json(file)
    _validate(CFPackageSchema(), raw, file)
    return _PackageReader(raw, file).framework()


class _PackageReader:
    """Builds a :class:`Framework` from a schema-valid package, checking what the schema
    cannot: unique identifiers, the dimension > level > indicator tree and its numbering.
    Every check names the JSON path an author should look at."""

    def __init__(self, raw: dict[str, Any], file: Path) -> None:
        self.raw = raw
        self.file = file
        self.document: dict[str, Any] = raw["CFDocument"]
        self.doc_id: str = self.document["identifier"]
        self.items: list[dict[str, Any]] = raw["CFItems"]
        self.associations: list[dict[str, Any]] = raw["CFAssociations"]
        self.index_of: dict[str, int] = {}
        self.children: dict[str, list[_Child]] = {}
        self.precedes: list[int] = []

    def fail(self, reason: str, *segments: str | int) -> ContentError:
        return ContentError(self.file, json_path(*segments), reason)

    def kind(self, identifier: str) -> str:
        if identifier == self.doc_id:
            return "CFDocument"
        return self.items[self.index_of[identifier]]["CFItemType"]

    def label(self, identifier: str) -> str:
        if identifier == self.doc_id:
            return "the CFDocument"
        item = self.items[self.index_of[identifier]]
        return f"{item['CFItemType']} '{item['humanCodingScheme']}'"

    def framework(self) -> Framework:
        self.check_identifiers()
        self.link()
        dimensions = tuple(
            self.dimension(child)
            for child in self.ordered(self.doc_id, "dimensions", contiguous=False)
        )
        self.check_precedes(dimensions)
        extensions = self.raw.get("extensions")
        rules_data = (extensions or {}).get("lti_tool")
        rules = ToolRules() if rules_data is None else ToolRules(
            schema_version=rules_data["schemaVersion"],
            level_rule=rules_data["levelRule"],
            rating_scale=tuple(
                RatingPoint(p["value"], p["label"]) for p in rules_data["ratingScale"]
            ),
            default_pass_mark_percent=rules_data["defaultPassMarkPercent"],
        )
        return Framework(
            identifier=self.doc_id,
            title=self.document["title"],
            version=self.document["version"],
            dimensions=dimensions,
            rules=rules,
            document=FrozenRecord(self.document),
            associations=tuple(FrozenRecord(a) for a in self.associations),
            extensions=None if extensions is None else FrozenRecord(extensions),
            other_sections=FrozenRecord(
                {k: v for k, v in self.raw.items() if k in _OTHER_SECTIONS}
            ),
        )

    def check_identifiers(self) -> None:
        """Identifiers unique across the package, codes unique, items in this document."""
        where: dict[str, str] = {self.doc_id: json_path("CFDocument", "identifier")}
        codes: dict[str, int] = {}
        for i, item in enumerate(self.items):
            identifier, code = item["identifier"], item["humanCodingScheme"]
            if identifier in where:
                raise self.fail(
                    f"Duplicate identifier '{identifier}' (also at {where[identifier]}).",
                    "CFItems", i, "identifier",
                )
            where[identifier] = json_path("CFItems", i, "identifier")
            self.index_of[identifier] = i
            if code in codes:
                raise self.fail(
                    f"Duplicate humanCodingScheme '{code}' "
                    f"(also at {json_path('CFItems', codes[code], 'humanCodingScheme')}).",
                    "CFItems", i, "humanCodingScheme",
                )
            codes[code] = i
            doc_ref = item.get("CFDocumentURI")
            if doc_ref is not None and doc_ref["identifier"] != self.doc_id:
                raise self.fail(
                    f"'{doc_ref['identifier']}' is not the CFDocument identifier "
                    f"'{self.doc_id}'.",
                    "CFItems", i, "CFDocumentURI", "identifier",
                )
        for j, assoc in enumerate(self.associations):
            identifier = assoc["identifier"]
            if identifier in where:
                raise self.fail(
                    f"Duplicate identifier '{identifier}' (also at {where[identifier]}).",
                    "CFAssociations", j, "identifier",
                )
            where[identifier] = json_path("CFAssociations", j, "identifier")

    def link(self) -> None:
        """Read isChildOf and precedes: every item has exactly one parent of the right type."""
        parent_assoc: dict[str, int] = {}
        for j, assoc in enumerate(self.associations):
            kind_of_assoc = assoc["associationType"]
            if kind_of_assoc not in ("isChildOf", "precedes"):
                continue  # other associations may point outside the framework; kept verbatim
            origin = assoc["originNodeURI"]["identifier"]
            destination = assoc["destinationNodeURI"]["identifier"]
            if origin not in self.index_of:
                raise self.fail(
                    f"Unknown identifier '{origin}': no CFItem of this framework has it.",
                    "CFAssociations", j, "originNodeURI", "identifier",
                )
            if destination not in self.index_of and (
                kind_of_assoc == "precedes" or destination != self.doc_id
            ):
                raise self.fail(
                    f"Unknown identifier '{destination}': neither the CFDocument nor a CFItem "
                    "of this framework has it.",
                    "CFAssociations", j, "destinationNodeURI", "identifier",
                )
            if kind_of_assoc == "precedes":
                self.precedes.append(j)
                continue
            if "sequenceNumber" not in assoc:
                raise self.fail("Missing data for required field.",
                                "CFAssociations", j, "sequenceNumber")
            expected = _PARENT_TYPE[self.kind(origin)]
            if self.kind(destination) != expected:
                raise self.fail(
                    f"{_a(self.kind(origin), start=True)} must be a child of {_a(expected)}, "
                    f"not of {self.label(destination)}.",
                    "CFAssociations", j, "destinationNodeURI", "identifier",
                )
            if origin in parent_assoc:
                raise self.fail(
                    f"{self.label(origin)} already has a parent "
                    f"(at {json_path('CFAssociations', parent_assoc[origin])}).",
                    "CFAssociations", j, "originNodeURI", "identifier",
                )
            parent_assoc[origin] = j
            self.children.setdefault(destination, []).append(
                _Child(self.index_of[origin], j, assoc["sequenceNumber"])
            )
        for i, item in enumerate(self.items):
            if item["identifier"] not in parent_assoc:
                raise self.fail(f"{self.label(item['identifier'])} has no isChildOf association.",
                                "CFItems", i)

    def ordered(self, parent: str, what: str, contiguous: bool) -> list[_Child]:
        """The children of ``parent`` by sequenceNumber: at least one, no repeats, and
        numbered 1..n when ``contiguous`` (levels, whose number is their place)."""
        found = sorted(self.children.get(parent, []), key=lambda c: c.sequence)
        if not found:
            segments = (
                ("CFDocument",) if parent == self.doc_id else ("CFItems", self.index_of[parent])
            )
            raise self.fail(f"{self.label(parent)} has no {what}.", *segments)
        seen: dict[int, int] = {}
        for n, child in enumerate(found, start=1):
            if child.sequence in seen:
                raise self.fail(
                    f"Duplicate sequenceNumber {child.sequence} among the {what} of "
                    f"{self.label(parent)} (also at "
                    f"{json_path('CFAssociations', seen[child.sequence])}).",
                    "CFAssociations", child.assoc_index, "sequenceNumber",
                )
            seen[child.sequence] = child.assoc_index
            if contiguous and child.sequence != n:
                raise self.fail(
                    f"The {what} of {self.label(parent)} must be numbered 1 to {len(found)} "
                    f"by sequenceNumber; found {child.sequence} where {n} was expected.",
                    "CFAssociations", child.assoc_index, "sequenceNumber",
                )
        return found

    def dimension(self, child: _Child) -> Dimension:
        item = self.items[child.item_index]
        return Dimension(
            identifier=item["identifier"],
            code=item["humanCodingScheme"],
            title=item["fullStatement"],
            levels=tuple(
                self.level(level_child, item["identifier"])
                for level_child in self.ordered(item["identifier"], "levels", contiguous=True)
            ),
            case=FrozenRecord(item),
        )

    def level(self, child: _Child, dimension_id: str) -> Level:
        item = self.items[child.item_index]
        number = child.sequence
        enumeration = item.get("listEnumeration")
        if enumeration is not None and enumeration != str(number):
            raise self.fail(
                f"'{enumeration}' does not match the level's sequenceNumber {number}.",
                "CFItems", child.item_index, "listEnumeration",
            )
        indicators = tuple(
            Indicator(
                identifier=indicator["identifier"],
                code=indicator["humanCodingScheme"],
                statement=indicator["fullStatement"],
                level_number=number,
                dimension_id=dimension_id,
                number=n,
                level_id=item["identifier"],
                case=FrozenRecord(indicator),
            )
            for n, indicator in enumerate(
                (self.items[c.item_index]
                 for c in self.ordered(item["identifier"], "indicators", contiguous=False)),
                start=1,
            )
        )
        title = item["fullStatement"]
        return Level(
            identifier=item["identifier"],
            code=item["humanCodingScheme"],
            number=number,
            title=title,
            short_title=item.get("abbreviatedStatement") or _LEVEL_PREFIX.sub("", title),
            indicators=indicators,
            case=FrozenRecord(item),
        )

    def check_precedes(self, dimensions: tuple[Dimension, ...]) -> None:
        """Each precedes links a level to the next level of the same dimension."""
        place = {
            level.identifier: (dimension.identifier, level.number)
            for dimension in dimensions
            for level in dimension.levels
        }
        for j in self.precedes:
            origin = self.associations[j]["originNodeURI"]["identifier"]
            destination = self.associations[j]["destinationNodeURI"]["identifier"]
            a, b = place.get(origin), place.get(destination)
            if a is None or b is None or a[0] != b[0] or b[1] != a[1] + 1:
                raise self.fail(
                    f"precedes must link a level to the next level of the same dimension, "
                    f"not {self.label(origin)} to {self.label(destination)}.",
                    "CFAssociations", j,
                )


def export_case(framework: Framework) -> dict[str, Any]:
    """The framework as a CASE 1.1 package (JSON data) that loads back to an equal
    :class:`Framework`. Items come dimension by dimension, each level before its
    indicators; the CASE fields the domain does not use are written as loaded."""
    document = {
        **framework.document.thaw(),
        "identifier": framework.identifier,
        "title": framework.title,
        "version": framework.version,
    }
    cf_items: list[dict[str, Any]] = []
    for dimension in framework.dimensions:
        cf_items.append(_case_item(dimension.case, dimension.identifier, "Dimension",
                                   dimension.title, dimension.code))
        for level in dimension.levels:
            cf_items.append(_case_item(level.case, level.identifier, "Level",
                                       level.title, level.code))
            for indicator in level.indicators:
                cf_items.append(_case_item(indicator.case, indicator.identifier, "Indicator",
                                           indicator.statement, indicator.code))
    package: dict[str, Any] = {
        "CFDocument": document,
        "CFItems": cf_items,
        "CFAssociations": [a.thaw() for a in framework.associations],
        **framework.other_sections.thaw(),
    }
    if framework.extensions is not None:
        package["extensions"] = framework.extensions.thaw()
    return package


def _case_item(
    record: FrozenRecord, identifier: str, item_type: str, statement: str, code: str
) -> dict[str, Any]:
    return {
        **record.thaw(),
        "identifier": identifier,
        "fullStatement": statement,
        "humanCodingScheme": code,
        "CFItemType": item_type,
    }


# -- question banks ----------------------------------------------------------------------


def load_bank(path: str | Path, framework: Framework) -> QuestionBank:
    """Load and check a question bank against its framework; raise :class:`ContentError`."""
    file = Path(path)
    raw = _read_json(file)
    data = _validate(QuestionBankSchema(), raw, file)

    def fail(reason: str, *segments: str | int) -> ContentError:
        return ContentError(file, json_path(*segments), reason)

    info = data["bank"]
    if info["framework"] != framework.identifier:
        raise fail(
            f"'{info['framework']}' is not the identifier of the framework document "
            f"('{framework.identifier}').",
            "bank", "framework",
        )
    items: list[Item] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data["items"]):
        if item["identifier"] in seen:
            raise fail(
                f"Duplicate item identifier '{item['identifier']}' "
                f"(also at {json_path('items', seen[item['identifier']])}).",
                "items", i, "identifier",
            )
        seen[item["identifier"]] = i
        _check_indicator(framework, item["indicator"], fail, i)
        items.append(_build_item(item, fail, i))

    dimension_ids = tuple(dict.fromkeys(
        framework.indicator(item.indicator_id).dimension_id for item in items
    ))
    counts: dict[str, int] = {}
    for item in items:
        counts[item.indicator_id] = counts.get(item.indicator_id, 0) + 1
    for dimension_id in dimension_ids:
        for indicator in framework.dimension(dimension_id).indicators:
            count = counts.get(indicator.identifier, 0)
            if count < MIN_ITEMS_PER_INDICATOR:
                raise fail(
                    f"Indicator {indicator.code} ({indicator.identifier}) has {count} "
                    f"item{'s' if count != 1 else ''}; each indicator needs at least "
                    f"{MIN_ITEMS_PER_INDICATOR}.",
                    "items",
                )
    return QuestionBank(
        identifier=info["identifier"],
        version=info["version"],
        framework_id=info["framework"],
        items=tuple(items),
        title=info["title"],
        language=info["language"],
        dimension_ids=dimension_ids,
    )


def _check_indicator(framework: Framework, identifier: str, fail: Any, i: int) -> None:
    if framework.has_indicator(identifier):
        return
    for getter, kind in ((framework.level, "Level"), (framework.dimension, "Dimension")):
        try:
            node = getter(identifier)
        except KeyError:
            continue
        raise fail(f"'{identifier}' is the {kind} '{node.code}', not an Indicator.",
                   "items", i, "indicator")
    raise fail(
        f"Unknown indicator '{identifier}': no Indicator of framework "
        f"'{framework.identifier}' has this identifier.",
        "items", i, "indicator",
    )


def _build_item(item: dict[str, Any], fail: Any, i: int) -> Item:
    fmt = ItemFormat(item["format"])
    options = item["options"]
    low, high = OPTION_COUNTS[fmt]
    if not low <= len(options) <= high:
        raise fail(f"A {fmt} item needs {low} to {high} options, not {len(options)}.",
                   "items", i, "options")
    key = OPTION_KEY[fmt]
    seen: dict[str, int] = {}
    for j, option in enumerate(options):
        if option["identifier"] in seen:
            raise fail(
                f"Duplicate option identifier '{option['identifier']}' "
                f"(also at {json_path('items', i, 'options', seen[option['identifier']])}).",
                "items", i, "options", j, "identifier",
            )
        seen[option["identifier"]] = j
        for other in ("score", "keyRank", "keyRating"):
            if other != key and other in option:
                raise fail(f"{other} does not belong in a {fmt} item (its options take {key}).",
                           "items", i, "options", j, other)
        if key not in option:
            raise fail(f"A {fmt} item needs {key} on every option.",
                       "items", i, "options", j, key)

    values = [option[key] for option in options]
    if fmt is ItemFormat.SINGLE_BEST:
        best = max(values)
        tied = [o["identifier"] for o in options if o["score"] == best]
        if len(tied) > 1:
            raise fail(
                f"Exactly one option must have the highest score; "
                f"{', '.join(tied)} all score {best}.",
                "items", i, "options",
            )
    elif fmt is ItemFormat.CHOOSE_TWO:
        ranked = sorted(values, reverse=True)
        if ranked[1] <= ranked[2]:
            raise fail(
                f"The two best options must be clear: the second highest score "
                f"({ranked[1]}) must be higher than the third ({ranked[2]}).",
                "items", i, "options",
            )
    elif fmt is ItemFormat.RANK and sorted(values) != list(range(1, len(values) + 1)):
        raise fail(
            f"keyRank must number the options 1 to {len(values)}, each once "
            f"(found {', '.join(str(v) for v in values)}).",
            "items", i, "options",
        )
    return Item(
        identifier=item["identifier"],
        indicator_id=item["indicator"],
        format=fmt,
        setting=item["setting"],
        scenario=item["scenario"],
        prompt=item["prompt"],
        options=tuple(
            Option(
                identifier=o["identifier"],
                text=o["text"],
                feedback=o["feedback"],
                score=o.get("score"),
                key_rank=o.get("keyRank"),
                key_rating=o.get("keyRating"),
            )
            for o in options
        ),
    )


# -- all content -------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """The framework and its question banks, loaded and checked together."""

    framework: Framework
    banks: tuple[QuestionBank, ...]

    def bank_for(self, dimension_id: str) -> QuestionBank:
        """The bank that covers a dimension; ``KeyError`` when none does."""
        for bank in self.banks:
            if dimension_id in bank.dimension_ids:
                return bank
        raise KeyError(f"no question bank covers dimension {dimension_id}")


def load_content(content_dir: str | Path) -> Content:
    """Load ``framework.json`` and every ``assessments/*.json`` bank under
    ``content_dir``; every dimension must be covered by exactly one bank."""
    root = Path(content_dir)
    framework = load_framework(root / "framework.json")
    bank_dir = root / "assessments"
    files = sorted(bank_dir.glob("*.json"))
    if not files:
        raise ContentError(bank_dir, "$", "No question bank (*.json) found.")
    banks = [load_bank(f, framework) for f in files]
    _check_coverage(framework, list(zip(files, banks, strict=True)), bank_dir)
    return Content(framework=framework, banks=tuple(banks))


def _check_coverage(
    framework: Framework, banks: Iterable[tuple[Path, QuestionBank]], bank_dir: Path
) -> None:
    covered: dict[str, Path] = {}
    for file, bank in banks:
        for dimension_id in bank.dimension_ids:
            if dimension_id in covered:
                code = framework.dimension(dimension_id).code
                raise ContentError(
                    file, "$.items",
                    f"Dimension {code} is already covered by {covered[dimension_id]}.",
                )
            covered[dimension_id] = file
    for dimension in framework.dimensions:
        if dimension.identifier not in covered:
            raise ContentError(
                bank_dir, "$", f"No question bank covers dimension {dimension.code} "
                f"({dimension.title})."
            )
