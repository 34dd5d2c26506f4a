"""``framework check|export``: validate content files and export the framework as CASE."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lti_tool.cli.common import fail


def register(main: click.Group) -> None:
    from lti_tool.assessments import ContentError, export_case, load_content, load_framework

    @main.group()
    def framework() -> None:
        """The competency framework and its question banks."""

    @framework.command("check")
    @click.argument("path", type=click.Path(path_type=Path), default=Path("content"))
    def framework_check(path: Path) -> None:
        """Validate a content folder (framework.json + assessments/) or a framework file."""
        try:
            if path.is_dir():
                content = load_content(path)
                fw = content.framework
                items = sum(len(bank.items) for bank in content.banks)
                click.echo(f"ok: {fw.title} version {fw.version}: "
                           f"{len(fw.dimensions)} dimension(s), "
                           f"{sum(len(d.levels) for d in fw.dimensions)} levels, "
                           f"{len(fw.indicators)} indicators; "
                           f"{len(content.banks)} bank(s), {items} questions")
            else:
                fw = load_framework(path)
                click.echo(f"ok: {fw.title} version {fw.version}: {len(fw.indicators)} indicators")
        except ContentError as exc:
            fail(str(exc))

    @framework.command("export")
    @click.argument("path", type=click.Path(path_type=Path), default=Path("content"))
    def framework_export(path: Path) -> None:
        """Print the loaded framework as a CASE 1.1 package (JSON)."""
        try:
            fw = load_framework(path / "framework.json" if path.is_dir() else path)
        except ContentError as exc:
            fail(str(exc))
        click.echo(json.dumps(export_case(fw), indent=2, ensure_ascii=False))
