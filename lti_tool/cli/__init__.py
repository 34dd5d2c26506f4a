"""``lti-tool``: install, run and administer the tool.

Every command exits non-zero with one clear line on stderr when it cannot do its job.
"""

from __future__ import annotations

import importlib
import sys

import click

from lti_tool.cli.common import CliError, fail, runtime_from_settings

__all__ = ["CliError", "fail", "main", "runtime_from_settings"]

# Modules that add commands to ``main`` (each exposes ``register(main)``).
COMMAND_MODULES = (
    "lti_tool.cli.setup",
    "lti_tool.cli.keys",
    "lti_tool.cli.platforms",
    "lti_tool.cli.framework",
    "lti_tool.cli.grades",
    "lti_tool.cli.admin",
)


class _OneLineGroup(click.Group):
    """Usage errors as one line ``error: ...`` (exit 2) instead of click's three."""

    def main(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Competency assessments inside the LMS over LTI 1.3."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that command family is not built yet
            raise
        module.register(main)


_register_commands()


def run() -> None:  # pragma: no cover - the console script
    main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
