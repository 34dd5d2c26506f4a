"""Test modules in folders without __init__.py are imported by their bare name: two with
the same name break collection of the whole suite ("import file mismatch")."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_bare_named_test_modules_are_unique():
    owners: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if not (path.parent / "__init__.py").exists():
            owners[path.name].append(str(path.parent.relative_to(TESTS)))
    clashes = {name: folders for name, folders in owners.items() if len(folders) > 1}
    assert not clashes, f"rename these or add __init__.py to their folders: {clashes}"
