"""The domain stays pure: lti_tool/assessments imports no web, SQL, HTTP or LTI library,
and nothing of lti_tool outside itself (DESIGN.md "Dependencies point inward")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lti_tool" / "assessments"
FORBIDDEN = {"flask", "sqlalchemy", "requests", "werkzeug", "pylti1p3"}


def forbidden_imports(source: str, module: str) -> list[str]:
    """The imports in ``source`` (the module ``module``) the domain must not make."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Resolve "from ..x import y" against the module's package.
                package = module.split(".")[: -node.level]
                names = [".".join([*package, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in FORBIDDEN:
                found.append(name)
            elif top == "lti_tool" and not (
                name == "lti_tool.assessments" or name.startswith("lti_tool.assessments.")
            ):
                found.append(name)
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_modules() -> None:
    assert len(_modules()) >= 8


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_domain_module_imports(path: Path) -> None:
    relative = path.relative_to(PACKAGE.parents[1]).with_suffix("")
    module = ".".join(relative.parts)
    if path.name == "__init__.py":
        module += ".__init__"  # "from .x" in a package's __init__ is relative to the package
    assert forbidden_imports(path.read_text(encoding="utf-8"), module) == []


@pytest.mark.parametrize(
    "source",
    [
        "import flask",
        "from sqlalchemy.orm import Session",
        "import requests.adapters",
        "from werkzeug import Response",
        "from pylti1p3.tool_config import ToolConfDict",
        "from lti_tool.persistence import models",
        "from .. import services",
        "from ..web import views",
        "def f():\n    import flask",
    ],
)
def test_the_check_catches_forbidden_imports(source: str) -> None:
    assert forbidden_imports(source, "lti_tool.assessments.rules") != []


@pytest.mark.parametrize(
    "source",
    ["from .framework import Framework", "from lti_tool.assessments import rules",
     "import marshmallow", "from . import content"],
)
def test_the_check_allows_the_domain_itself(source: str) -> None:
    assert forbidden_imports(source, "lti_tool.assessments.rules") == []
