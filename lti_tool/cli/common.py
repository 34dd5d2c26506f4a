"""What every command shares: the one-line error and the runtime."""

from __future__ import annotations

import click

from lti_tool.settings import SettingsError


class CliError(click.ClickException):
    """A failure shown as one line ``error: ...`` with exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def runtime_from_settings(*, require_schema: bool = True):
    """A Runtime for a command; refuses a database that ``lti-tool init`` never set up."""
    from lti_tool.persistence import schema_is_current
    from lti_tool.runtime import Runtime
    from lti_tool.settings import load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    try:
        runtime = Runtime(settings)
        if require_schema and not schema_is_current(runtime.engine):
            raise CliError("the database is not set up: run 'lti-tool init' first")
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"cannot reach the database: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:200]}") from None
    return runtime


def fail(message: str) -> None:
    """Stop the command with one line on stderr and exit code 1."""
    raise CliError(message)
