"""Only the platform client talks to platforms: grading and the services never do HTTP
themselves (DESIGN.md "Dependencies point inward")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lti_tool"
#: HTTP clients (URL parsing with urllib.parse is fine).
HTTP_CLIENTS = ("requests", "urllib3", "httpx", "http.client", "urllib.request", "aiohttp",
                "pylti1p3")
CHECKED = sorted([*PACKAGE.joinpath("grading").rglob("*.py"),
                  *PACKAGE.joinpath("services").rglob("*.py")])


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_http_outside_the_platform_client(path: Path) -> None:
    imports = imported_modules(path.read_text(encoding="utf-8"))
    assert not {name for name in imports
                if any(name == c or name.startswith(c + ".") for c in HTTP_CLIENTS)}
    if path.parent.name == "services":
        assert not {name for name in imports
                    if name.startswith(("lti_tool.grading", "lti_tool.lti.platform_client"))}


def test_the_check_sees_an_http_import() -> None:
    assert "requests" in imported_modules("import requests\n")
    assert "urllib.request" in imported_modules("from urllib.request import urlopen\n")
