"""``registration-url`` and ``admin-token``: the two addresses an admin is handed."""

from __future__ import annotations

import click

from lti_tool.cli.common import CliError, runtime_from_settings
from lti_tool.services.registrations import (
    DEFAULT_INVITE_HOURS,
    MAX_INVITE_HOURS,
    create_invite,
    invite_url,
)
from lti_tool.settings import SettingsError


def register(main: click.Group) -> None:
    @main.command("registration-url")
    @click.option("--expires-hours", default=float(DEFAULT_INVITE_HOURS), show_default=True,
                  type=click.FloatRange(0, MAX_INVITE_HOURS, min_open=True),
                  help="How long the address works (it also stops after one use).")
    def registration_url(expires_hours: float) -> None:
        """Print a single-use LTI Dynamic Registration address to paste into Moodle
        ("Tool URL") or Canvas (LTI Registration)."""
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                token, invite = create_invite(db, hours=expires_hours)
                expires = invite.expires_at
        finally:
            runtime.dispose()
        click.echo(invite_url(runtime.settings.base_url, token))
        click.echo(f"single use; expires {expires:%Y-%m-%d %H:%M} UTC. Paste it into Moodle "
                   "(Manage tools > Tool URL) or Canvas (Developer Keys > LTI Registration).",
                   err=True)

    @main.command("admin-token")
    @click.option("--hours", default=8.0, show_default=True,
                  type=click.FloatRange(0, 168, min_open=True),
                  help="How long the admin page address works.")
    def admin_token(hours: float) -> None:
        """Print an address that opens the admin page (registrations, deployments, keys,
        grade delivery) for a few hours. Anyone holding it can read that page."""
        from lti_tool.settings import load_settings
        from lti_tool.web.admin import admin_url, issue_admin_token

        try:
            settings = load_settings()
        except SettingsError as exc:
            raise CliError(str(exc)) from None
        token = issue_admin_token(settings.secret_key, hours=hours)
        click.echo(admin_url(settings.base_url, token))
        click.echo(f"valid for {hours:g} hours; treat it like a password", err=True)
