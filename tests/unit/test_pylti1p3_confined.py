"""PyLTI1p3 stays inside lti_tool/lti/ (DESIGN.md: the LTI adapter is its only user)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lti_tool"


def imports_pylti1p3(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(name == "pylti1p3" or name.startswith("pylti1p3.") for name in names):
            return True
    return False


def test_only_the_lti_package_imports_pylti1p3():
    users = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if imports_pylti1p3(path.read_text(encoding="utf-8"))
    )
    assert users, "the LTI adapter should use pylti1p3"
    assert all(user.startswith("lti/") for user in users), users


def test_the_check_sees_both_import_forms():
    assert imports_pylti1p3("import pylti1p3.message_launch")
    assert imports_pylti1p3("from pylti1p3.tool_config import ToolConfAbstract")
    assert not imports_pylti1p3("from lti_tool.lti import launch")
