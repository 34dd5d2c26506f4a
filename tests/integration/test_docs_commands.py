"""The docs cannot drift from the CLI: every ``lti-tool ...`` command in a code block of
``docs/*.md`` and ``README.md`` must name real commands and parse (options, types and
required arguments) with the CLI itself; and the key rotation recipe in docs/deploy.md
runs as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lti_tool.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^(```|~~~)([^\n]*)\n(.*?)^\1", re.S | re.M)
# Blocks that hold no commands: pictures and other programs' configuration.
NOT_COMMANDS = {"text", "nginx"}
# "lti-tool" as a program (at a line start, after a path, a pipe or xargs), then a word.
INVOCATION = re.compile(r"(?:^|(?<=[\s;|&/]))lti-tool\s+(?=[a-z-])([^|;&\n]*)")


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: str
    args: tuple[str, ...]
    fed_by_xargs: bool

    def __str__(self) -> str:
        return f"{self.doc}: lti-tool {' '.join(self.args)}"


def commands_in(text: str, doc: str = "doc") -> list[DocCommand]:
    """Every ``lti-tool`` invocation inside the fenced code blocks of ``text``."""
    found = []
    for block in FENCE.finditer(text):
        if block.group(2).strip() in NOT_COMMANDS:
            continue
        body = re.sub(r"\\\n\s*", " ", block.group(3))  # shell line continuations
        for line in body.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for match in INVOCATION.finditer(line):
                words = shlex.split(match.group(1), comments=True)
                before = line[: match.start()]
                found.append(DocCommand(doc, line.strip(), tuple(words),
                                        fed_by_xargs="xargs" in before.split("|")[-1]))
    return found


ALL = [command for path in DOCS for command in commands_in(path.read_text(), path.name)]


def command_path(args: tuple[str, ...]) -> tuple[list[str], click.Command, list[str]]:
    """The subcommand names in ``args``, the command they reach, and what follows."""
    command: click.Command = main
    path: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def test_the_extractor_finds_commands_where_admins_read_them():
    sample = (
        "Text `lti-tool init` outside a block.\n"
        "```sh\n"
        "lti-tool platform add --preset canvas \\\n  --client-id 42  # a comment\n"
        "# lti-tool commented out\n"
        "0 3 * * * u /opt/lti-tool/venv/bin/lti-tool keys list | xargs -n1 lti-tool keys retire\n"
        "pip install /opt/lti-tool/src\n"
        "```\n"
        "```text\n"
        "  LMS ──► lti-tool serve (host A)\n"
        "```\n"
    )
    found = [(c.args, c.fed_by_xargs) for c in commands_in(sample)]
    assert found == [
        (("platform", "add", "--preset", "canvas", "--client-id", "42"), False),
        (("keys", "list"), False),
        (("keys", "retire"), True),
    ]


def test_every_doc_shows_commands():
    per_doc = {path.name: sum(1 for c in ALL if c.doc == path.name) for path in DOCS}
    for name in ("install-moodle.md", "install-canvas.md", "deploy.md", "README.md"):
        assert per_doc.get(name, 0) >= 1, per_doc
    assert len(ALL) >= 25


@pytest.mark.parametrize("command", ALL, ids=str)
def test_documented_command_parses(command: DocCommand):
    path, target, rest = command_path(command.args)
    assert path, f"{command}: no such command"
    assert not isinstance(target, click.Group) or rest == ["--help"], (
        f"{command}: '{' '.join(path)}' needs a subcommand")
    helped = CliRunner().invoke(main, [*path, "--help"])
    assert helped.exit_code == 0, helped.output
    if "--help" in rest:
        return
    if command.fed_by_xargs:
        rest = [*rest, "VALUE_FROM_XARGS"]
    parent = click.Context(main, info_name="lti-tool")
    for name in path[:-1]:
        parent = click.Context(parent.command.commands[name], info_name=name, parent=parent)
    try:
        target.make_context(path[-1], list(rest), parent=parent)
    except click.ClickException as exc:
        pytest.fail(f"{command}: {exc.format_message()}")


def test_the_key_rotation_recipe_in_deploy_md_runs(tmp_path):
    """The two cron lines, with the paths of this machine: rotate, then retire the old key."""
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    cron = [line for line in re.findall(r"^0 3 \d .*$", deploy, re.M)]
    assert len(cron) == 2, cron
    lti_tool = str(Path(sys.executable).parent / "lti-tool")
    scripts = []
    for line in cron:
        script = line.split(None, 6)[6]  # after minute hour dom month dow user
        script = script.replace("set -a; . /etc/lti-tool/env; ", "")
        scripts.append(script.replace("/opt/lti-tool/venv/bin/lti-tool", lti_tool))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_")}
    env.update(LTI_TOOL_INSTANCE_PATH=str(tmp_path / "instance"),
               LTI_TOOL_DATABASE_URL=f"sqlite:///{tmp_path / 'tool.sqlite3'}")

    def sh(script: str) -> str:
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def states() -> dict[str, str]:
        return dict(line.split("\t")[:2] for line in sh(f"{lti_tool} keys list").splitlines())

    sh(f"{lti_tool} init")
    [first] = states()
    sh(scripts[0])  # the 1st of the month: rotate
    after_rotate = states()
    [second] = [kid for kid in after_rotate if kid != first]
    assert after_rotate == {first: "published", second: "signing"}
    sh(scripts[1])  # the 2nd: retire what no longer signs
    assert states() == {first: "retired", second: "signing"}
    sh(scripts[1])  # a month with nothing to retire is fine too
    assert states() == {first: "retired", second: "signing"}
