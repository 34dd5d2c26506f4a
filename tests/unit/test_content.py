"""The framework and question banks as data: the shipped text against its source, the
synthetic framework, the CASE export round trip, and the exact message a content author
gets for each kind of broken file."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from assessment_builders import CONTENT, FIXTURES, SYNTHETIC

from lti_tool.assessments import (
    ContentError,
    ItemFormat,
    export_case,
    load_bank,
    load_content,
    load_framework,
)

SOURCE = Path("/work/shared/framework-source/000_7619fbda33d3569a.txt")
SOURCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "framework-source"


def _source_file() -> Path:
    for candidate in (SOURCE_DIR / SOURCE.name, SOURCE):
        if candidate.exists():
            return candidate
    pytest.skip(f"framework source {SOURCE.name} not found beside the project")


def parse_source(text: str) -> list[tuple[str, list[str]]]:
    """[(level title, [indicator sentence, ...]), ...] from the source's plain text."""
    levels: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if re.match(r"^Level \d+ - ", line):
            levels.append((line, []))
        elif line.startswith("\u00b7"):
            levels[-1][1].append(line.lstrip("\u00b7").strip())
    return levels


# -- the shipped framework ---------------------------------------------------------------


def test_framework_text_matches_source_indicator_by_indicator(ksf) -> None:
    source = parse_source(_source_file().read_text(encoding="utf-8"))
    dimension = ksf.primary_dimension
    assert len(source) == 4
    assert [level.title for level in dimension.levels] == [title for title, _ in source]
    for level, (_, sentences) in zip(dimension.levels, source, strict=True):
        assert [i.statement for i in level.indicators] == sentences, level.code
    assert len(ksf.indicators) == 19


def test_framework_codes_numbers_and_rules(ksf) -> None:
    dimension = ksf.primary_dimension
    assert (dimension.code, dimension.title) == ("C4", "Service improvement")
    assert [level.code for level in dimension.levels] == ["C4.L1", "C4.L2", "C4.L3", "C4.L4"]
    assert [level.number for level in dimension.levels] == [1, 2, 3, 4]
    level2 = dimension.level(2)
    assert level2.short_title == "Contribute to the improvement of services"
    assert [i.code for i in level2.indicators] == [f"C4.L2.{n}" for n in range(1, 6)]
    first = dimension.level(1).indicators[0]
    assert ksf.indicator(first.identifier) is first
    assert (first.level_number, first.dimension_id) == (1, dimension.identifier)
    assert ksf.rules.default_pass_mark_percent == 70
    assert [p.label for p in ksf.rules.rating_scale] == ["Not yet", "Partly", "Consistently"]
    with pytest.raises(KeyError):
        ksf.indicator(dimension.identifier)  # a dimension is not an indicator


def test_identifiers_are_stable(ksf) -> None:
    # Attempts and banks refer to these: they must never change between releases.
    assert ksf.identifier == "7cd0b0c5-292a-587e-9daa-46787b58bda6"
    assert ksf.primary_dimension.identifier == "0c9c0b0b-5fe4-5289-80a3-49a3b89b5f45"
    assert ksf.primary_dimension.level(1).indicators[0].identifier == (
        "9fb6a47c-f06b-5da8-a0ba-d0745f95ccef"
    )


def test_export_reproduces_the_shipped_file(ksf) -> None:
    original = json.loads((CONTENT / "framework.json").read_text(encoding="utf-8"))
    assert export_case(ksf) == original


@pytest.mark.parametrize("source", [CONTENT / "framework.json", SYNTHETIC / "framework.json"])
def test_export_round_trips_through_the_loader(source: Path, tmp_path: Path) -> None:
    framework = load_framework(source)
    exported = tmp_path / "exported.json"
    # The same serialisation as `lti-tool framework export`.
    exported.write_text(json.dumps(export_case(framework), indent=2, ensure_ascii=False),
                        encoding="utf-8")
    assert load_framework(exported) == framework


def test_export_keeps_case_sections_and_fields_the_tool_does_not_use(tmp_path: Path) -> None:
    package = _load_json(SYNTHETIC / "framework.json")
    package["CFDefinitions"] = {"CFItemTypes": []}
    package["CFItems"][2]["notes"] = "Observed in practice."
    package["CFItems"][2]["educationLevel"] = ["Band 5"]
    package["extensions"]["example.org"] = {"colour": "blue"}
    source = tmp_path / "framework.json"
    source.write_text(json.dumps(package), encoding="utf-8")
    assert export_case(load_framework(source)) == package


def test_load_content_loads_the_shipped_bank() -> None:
    if not (CONTENT / "assessments" / "service-improvement.json").exists():
        pytest.skip("content/assessments/service-improvement.json is not written yet")
    content = load_content(CONTENT)
    bank = content.bank_for(content.framework.primary_dimension.identifier)
    assert bank.framework_id == content.framework.identifier
    for indicator in content.framework.indicators:
        assert len(bank.items_for(indicator.identifier)) >= 3, indicator.code


# -- the synthetic framework -------------------------------------------------------------


def test_synthetic_framework_has_two_dimensions_of_three_levels(synthetic) -> None:
    assert [d.code for d in synthetic.dimensions] == ["S1", "S2"]
    for dimension in synthetic.dimensions:
        assert dimension.top_level == 3
        assert [len(level.indicators) for level in dimension.levels] == [2, 2, 2]
    assert synthetic.dimension(synthetic.dimensions[1].identifier).title == "Teamwork"
    assert synthetic.rules.default_pass_mark_percent == 60


def test_synthetic_bank_covers_both_dimensions(synthetic, synthetic_bank) -> None:
    assert set(synthetic_bank.dimension_ids) == {d.identifier for d in synthetic.dimensions}
    assert {i.format for i in synthetic_bank.items} == set(ItemFormat)
    assert len(synthetic_bank.items) == 36


def test_load_content_with_a_bank_covering_every_dimension(tmp_path: Path) -> None:
    (tmp_path / "assessments").mkdir()
    (tmp_path / "framework.json").write_bytes((SYNTHETIC / "framework.json").read_bytes())
    (tmp_path / "assessments" / "all.json").write_bytes((SYNTHETIC / "bank.json").read_bytes())
    content = load_content(tmp_path)
    for dimension in content.framework.dimensions:
        assert content.bank_for(dimension.identifier).identifier == "synthetic-sjt"


# -- broken files: the exact message -----------------------------------------------------


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


FRAMEWORK = _load_json(SYNTHETIC / "framework.json")
BANK = _load_json(SYNTHETIC / "bank.json")
ITEM = {i["humanCodingScheme"]: i for i in FRAMEWORK["CFItems"]}
DOC_ID = FRAMEWORK["CFDocument"]["identifier"]
STRANGER = "00000000-0000-4000-8000-000000000000"


def _ref(code: str) -> dict[str, str]:
    item = ITEM[code]
    return {"title": code, "identifier": item["identifier"], "uri": item["uri"]}


def _drop_indicators_of_s1_l1(fw: dict[str, Any]) -> None:
    doomed = {ITEM["S1.L1.1"]["identifier"], ITEM["S1.L1.2"]["identifier"]}
    fw["CFItems"] = [i for i in fw["CFItems"] if i["identifier"] not in doomed]
    fw["CFAssociations"] = [
        a for a in fw["CFAssociations"] if a["originNodeURI"]["identifier"] not in doomed
    ]


def _set(path: tuple[Any, ...], value: Any):
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: tuple[Any, ...]):
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


# Item and association positions in the synthetic framework: CFItems[0] S1, [1] S1.L1,
# [2] S1.L1.1, [3] S1.L1.2, [4] S1.L2 ...; CFAssociations[0] S1 -> document, [1] S1.L1 ->
# S1, [2] S1.L1.1 -> S1.L1, [3] S1.L1.2 -> S1.L1, [4] S1.L2 -> S1, [5] S1.L1 precedes
# S1.L2, ..., [8] S1.L3 -> S1.
FRAMEWORK_BREAKS = [
    ("missing field", _delete(("CFItems", 3, "fullStatement")),
     "$.CFItems[3].fullStatement: Missing data for required field."),
    ("missing document version", _delete(("CFDocument", "version")),
     "$.CFDocument.version: Missing data for required field."),
    ("wrong type", _set(("CFItems", 2, "humanCodingScheme"), 7),
     "$.CFItems[2].humanCodingScheme: Not a valid string."),
    ("sequence number as text", _set(("CFAssociations", 2, "sequenceNumber"), "1"),
     "$.CFAssociations[2].sequenceNumber: Not a valid integer."),
    ("misspelt field", _set(("CFItems", 1, "abreviatedStatement"), "Share information"),
     "$.CFItems[1].abreviatedStatement: Unknown field."),
    ("blank statement", _set(("CFItems", 3, "fullStatement"), "  "),
     "$.CFItems[3].fullStatement: Must not be blank."),
    ("stray spaces", _set(("CFItems", 3, "fullStatement"), "I check that people have understood me. "),
     "$.CFItems[3].fullStatement: Must not start or end with spaces."),
    ("not a UUID", _set(("CFItems", 0, "identifier"), "dimension-1"),
     "$.CFItems[0].identifier: Not a valid UUID."),
    ("unknown item type", _set(("CFItems", 2, "CFItemType"), "Skill"),
     "$.CFItems[2].CFItemType: Must be one of: Dimension, Level, Indicator."),
    ("duplicate identifier", _set(("CFItems", 3, "identifier"), ITEM["S1.L1.1"]["identifier"]),
     f"$.CFItems[3].identifier: Duplicate identifier '{ITEM['S1.L1.1']['identifier']}' "
     "(also at $.CFItems[2].identifier)."),
    ("duplicate code", _set(("CFItems", 3, "humanCodingScheme"), "S1.L1.1"),
     "$.CFItems[3].humanCodingScheme: Duplicate humanCodingScheme 'S1.L1.1' "
     "(also at $.CFItems[2].humanCodingScheme)."),
    ("unknown identifier in an association",
     _set(("CFAssociations", 2, "destinationNodeURI", "identifier"), STRANGER),
     f"$.CFAssociations[2].destinationNodeURI.identifier: Unknown identifier '{STRANGER}': "
     "neither the CFDocument nor a CFItem of this framework has it."),
    ("indicator without a parent", _delete(("CFAssociations", 3)),
     "$.CFItems[3]: Indicator 'S1.L1.2' has no isChildOf association."),
    ("indicator under a dimension", _set(("CFAssociations", 2, "destinationNodeURI"), _ref("S1")),
     "$.CFAssociations[2].destinationNodeURI.identifier: An Indicator must be a child of "
     "a Level, not of Dimension 'S1'."),
    ("level without indicators", _drop_indicators_of_s1_l1,
     "$.CFItems[1]: Level 'S1.L1' has no indicators."),
    ("isChildOf without sequence number", _delete(("CFAssociations", 1, "sequenceNumber")),
     "$.CFAssociations[1].sequenceNumber: Missing data for required field."),
    ("gap in level numbers", _set(("CFAssociations", 8, "sequenceNumber"), 4),
     "$.CFAssociations[8].sequenceNumber: The levels of Dimension 'S1' must be numbered "
     "1 to 3 by sequenceNumber; found 4 where 3 was expected."),
    ("list enumeration disagrees", _set(("CFItems", 4, "listEnumeration"), "3"),
     "$.CFItems[4].listEnumeration: '3' does not match the level's sequenceNumber 2."),
    ("precedes skips a level", _set(("CFAssociations", 5, "destinationNodeURI"), _ref("S1.L3")),
     "$.CFAssociations[5]: precedes must link a level to the next level of the same "
     "dimension, not Level 'S1.L1' to Level 'S1.L3'."),
    ("rating scale changed",
     _set(("extensions", "lti_tool", "ratingScale"),
          [{"value": 1, "label": "a"}, {"value": 2, "label": "b"}, {"value": 3, "label": "c"}]),
     "$.extensions.lti_tool.ratingScale: The rating scale must have the values 0, 1, 2 in order."),
    ("pass mark out of range", _set(("extensions", "lti_tool", "defaultPassMarkPercent"), 0),
     "$.extensions.lti_tool.defaultPassMarkPercent: "
     "Must be greater than or equal to 1 and less than or equal to 100."),
    ("items not a list", _set(("CFItems",), {}),
     "$.CFItems: Not a valid list."),
]


@pytest.mark.parametrize(("break_it", "message"), [b[1:] for b in FRAMEWORK_BREAKS],
                         ids=[b[0] for b in FRAMEWORK_BREAKS])
def test_broken_framework_names_file_path_and_reason(break_it, message, tmp_path) -> None:
    data = copy.deepcopy(FRAMEWORK)
    break_it(data)
    path = tmp_path / "framework.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_framework(path)
    assert str(caught.value) == f"{path}: {message}"


def _item_for(code: str) -> int:
    return next(n for n, i in enumerate(BANK["items"]) if i["identifier"] == code)


# Bank positions: items[0] S1.L1.1-a single_best (a 2, b 1, c 0), [1] S1.L1.1-b choose_two
# (a 2, b 0, c 1, d 0), [2] S1.L1.1-c rank (a 2, b 1, c 3), [3] S1.L1.2-a rate_each
# (a 4, b 1, c 3).
BANK_BREAKS = [
    ("missing field", _delete(("items", 0, "prompt")),
     "$.items[0].prompt: Missing data for required field."),
    ("missing bank version", _delete(("bank", "version")),
     "$.bank.version: Missing data for required field."),
    ("wrong type", _set(("items", 0, "options", 0, "score"), "2"),
     "$.items[0].options[0].score: Not a valid integer."),
    ("boolean score", _set(("items", 0, "options", 0, "score"), True),
     "$.items[0].options[0].score: Not a valid integer."),
    ("unknown format", _set(("items", 0, "format"), "essay"),
     "$.items[0].format: Must be one of: single_best, choose_two, rank, rate_each."),
    ("bad item identifier", _set(("items", 0, "identifier"), "S1 L1 1"),
     "$.items[0].identifier: Use only letters, digits, '.' and '-'."),
    ("unknown indicator", _set(("items", 4, "indicator"), STRANGER),
     f"$.items[4].indicator: Unknown indicator '{STRANGER}': no Indicator of framework "
     f"'{DOC_ID}' has this identifier."),
    ("keyed to a level", _set(("items", 4, "indicator"), ITEM["S1.L1"]["identifier"]),
     f"$.items[4].indicator: '{ITEM['S1.L1']['identifier']}' is the Level 'S1.L1', "
     "not an Indicator."),
    ("duplicate item identifier", _set(("items", 1, "identifier"), "S1.L1.1-a"),
     "$.items[1].identifier: Duplicate item identifier 'S1.L1.1-a' (also at $.items[0])."),
    ("duplicate option identifier", _set(("items", 0, "options", 2, "identifier"), "a"),
     "$.items[0].options[2].identifier: Duplicate option identifier 'a' "
     "(also at $.items[0].options[0])."),
    ("other framework", _set(("bank", "framework"), STRANGER),
     f"$.bank.framework: '{STRANGER}' is not the identifier of the framework document "
     f"('{DOC_ID}')."),
    ("too few options", _delete(("items", 0, "options", 2)),
     "$.items[0].options: A single_best item needs 3 to 5 options, not 2."),
    ("single_best: rank key", _set(("items", 0, "options", 1, "keyRank"), 1),
     "$.items[0].options[1].keyRank: keyRank does not belong in a single_best item "
     "(its options take score)."),
    ("single_best: two best options", _set(("items", 0, "options", 1, "score"), 2),
     "$.items[0].options: Exactly one option must have the highest score; a, b all score 2."),
    ("single_best: negative score", _set(("items", 0, "options", 2, "score"), -1),
     "$.items[0].options[2].score: Must be greater than or equal to 0."),
    ("choose_two: missing score", _delete(("items", 1, "options", 2, "score")),
     "$.items[1].options[2].score: A choose_two item needs score on every option."),
    ("choose_two: second best not clear", _set(("items", 1, "options", 3, "score"), 1),
     "$.items[1].options: The two best options must be clear: the second highest score (1) "
     "must be higher than the third (1)."),
    ("choose_two: three options", _delete(("items", 1, "options", 3)),
     "$.items[1].options: A choose_two item needs 4 to 6 options, not 3."),
    ("rank: score key", _set(("items", 2, "options", 0, "score"), 1),
     "$.items[2].options[0].score: score does not belong in a rank item "
     "(its options take keyRank)."),
    ("rank: rank used twice", _set(("items", 2, "options", 2, "keyRank"), 2),
     "$.items[2].options: keyRank must number the options 1 to 3, each once (found 2, 1, 2)."),
    ("rank: missing keyRank", _delete(("items", 2, "options", 1, "keyRank")),
     "$.items[2].options[1].keyRank: A rank item needs keyRank on every option."),
    ("rate_each: rating out of range", _set(("items", 3, "options", 0, "keyRating"), 5),
     "$.items[3].options[0].keyRating: "
     "Must be greater than or equal to 1 and less than or equal to 4."),
    ("rate_each: rank key", _set(("items", 3, "options", 1, "keyRank"), 1),
     "$.items[3].options[1].keyRank: keyRank does not belong in a rate_each item "
     "(its options take keyRating)."),
    ("rate_each: missing keyRating", _delete(("items", 3, "options", 2, "keyRating")),
     "$.items[3].options[2].keyRating: A rate_each item needs keyRating on every option."),
    ("indicator with two items", _delete(("items", 0)),
     f"$.items: Indicator S1.L1.1 ({ITEM['S1.L1.1']['identifier']}) has 2 items; "
     "each indicator needs at least 3."),
    ("no items", _set(("items",), []),
     "$.items: Shorter than minimum length 1."),
]


@pytest.mark.parametrize(("break_it", "message"), [b[1:] for b in BANK_BREAKS],
                         ids=[b[0] for b in BANK_BREAKS])
def test_broken_bank_names_file_path_and_reason(break_it, message, synthetic,
                                                tmp_path) -> None:
    data = copy.deepcopy(BANK)
    break_it(data)
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_bank(path, synthetic)
    assert str(caught.value) == f"{path}: {message}"


# Broken files kept as files, as a content author would meet them.
BROKEN_FILES = [
    ("framework-not-json.json", "framework",
     "$: Not valid JSON: Expecting ',' delimiter (line 4, column 3)."),
    ("framework-missing-title.json", "framework",
     "$.CFDocument.title: Missing data for required field."),
    ("bank-rank-with-scores.json", "bank",
     "$.items[0].options[0].score: score does not belong in a rank item "
     "(its options take keyRank)."),
]


@pytest.mark.parametrize(("name", "kind", "message"), BROKEN_FILES,
                         ids=[b[0] for b in BROKEN_FILES])
def test_broken_fixture_files(name, kind, message, synthetic) -> None:
    path = FIXTURES / "broken" / name
    with pytest.raises(ContentError) as caught:
        if kind == "framework":
            load_framework(path)
        else:
            load_bank(path, synthetic)
    assert str(caught.value) == f"{path}: {message}"
    assert (caught.value.file, caught.value.path) == (str(path), message.split(": ")[0])


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ContentError) as caught:
        load_framework(path)
    assert str(caught.value) == f"{path}: $: File not found."


def test_content_without_a_bank_for_every_dimension(tmp_path: Path) -> None:
    (tmp_path / "assessments").mkdir()
    (tmp_path / "framework.json").write_bytes((SYNTHETIC / "framework.json").read_bytes())
    bank = copy.deepcopy(BANK)
    s2_ids = {i["identifier"] for i in FRAMEWORK["CFItems"]
              if i["humanCodingScheme"].startswith("S2")}
    bank["items"] = [i for i in bank["items"] if i["indicator"] not in s2_ids]
    (tmp_path / "assessments" / "s1.json").write_text(json.dumps(bank), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_content(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'assessments'}: $: No question bank covers dimension S2 (Teamwork)."
    )
