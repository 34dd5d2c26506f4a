"""``platform`` and ``deployment`` commands."""

from __future__ import annotations

import click
from sqlalchemy import select

from lti_tool.cli.common import fail, runtime_from_settings
from lti_tool.persistence.models import Deployment, Registration
from lti_tool.services.platforms import (
    PlatformError,
    PlatformInput,
    add_platform,
    canvas_preset,
    find_registration,
    moodle_preset,
    set_deployment,
)


def _forget_origins(runtime) -> None:
    from lti_tool.web import FRAME_ANCESTORS_KEY

    runtime.store.delete(FRAME_ANCESTORS_KEY)


def register(main: click.Group) -> None:
    @main.group()
    def platform() -> None:
        """Platforms (LMS registrations): issuer + client id."""

    @platform.command("add")
    @click.option("--preset", type=click.Choice(["moodle", "canvas"]),
                  help="Fill in the issuer and endpoints of Moodle or Canvas.")
    @click.option("--url", help="Moodle site URL (with --preset moodle).")
    @click.option("--environment", default="production", show_default=True,
                  type=click.Choice(["production", "beta", "test"]),
                  help="Canvas environment (with --preset canvas).")
    @click.option("--issuer")
    @click.option("--client-id", required=True)
    @click.option("--auth-login-url")
    @click.option("--auth-token-url")
    @click.option("--key-set-url")
    @click.option("--token-audience", default=None)
    @click.option("--deployment-id", "deployment_ids", multiple=True)
    @click.option("--deployment-policy", type=click.Choice(["hold", "accept"]), default=None,
                  help="What to do with unknown deployment ids (default hold; canvas: accept).")
    @click.option("--name", default="")
    def platform_add(preset, url, environment, issuer, client_id, auth_login_url,
                     auth_token_url, key_set_url, token_audience, deployment_ids,
                     deployment_policy, name) -> None:
        """Register a platform."""
        try:
            if preset == "moodle":
                if not url:
                    fail("--preset moodle needs --url (the Moodle site URL)")
                data = moodle_preset(url, client_id)
            elif preset == "canvas":
                data = canvas_preset(client_id, environment)
            else:
                missing = [flag for flag, value in (
                    ("--issuer", issuer), ("--auth-login-url", auth_login_url),
                    ("--auth-token-url", auth_token_url), ("--key-set-url", key_set_url),
                ) if not value]
                if missing:
                    fail(f"missing {', '.join(missing)} (or use --preset moodle|canvas)")
                data = PlatformInput(issuer=issuer, client_id=client_id,
                                     auth_login_url=auth_login_url,
                                     auth_token_url=auth_token_url, key_set_url=key_set_url)
            for flag, value in (("issuer", issuer), ("auth_login_url", auth_login_url),
                                ("auth_token_url", auth_token_url),
                                ("key_set_url", key_set_url)):
                if preset and value:
                    setattr(data, flag, value)
            data.token_audience = token_audience
            data.deployment_ids = list(deployment_ids)
            if deployment_policy:
                data.deployment_policy = deployment_policy
            if name:
                data.name = name
            runtime = runtime_from_settings()
            with runtime.session() as db:
                registration = add_platform(db, data)
                click.echo(f"registered {registration.issuer} client id "
                           f"{registration.client_id} (id {registration.id}, policy "
                           f"{registration.deployment_policy}, "
                           f"{len(data.deployment_ids)} deployment(s))")
            _forget_origins(runtime)
        except PlatformError as exc:
            fail(str(exc))

    @platform.command("list")
    def platform_list() -> None:
        """List registrations."""
        runtime = runtime_from_settings()
        with runtime.session() as db:
            rows = list(db.scalars(select(Registration).order_by(Registration.id)))
            if not rows:
                click.echo("no platforms registered")
            for r in rows:
                active = sum(1 for d in r.deployments if d.active)
                held = len(r.deployments) - active
                click.echo(
                    f"{r.id}\t{'enabled' if r.enabled else 'DISABLED'}\t{r.name}\t{r.issuer}\t"
                    f"client {r.client_id}\tpolicy {r.deployment_policy}\t"
                    f"deployments {active} active, {held} held"
                )

    def _set_enabled(issuer: str, client_id: str | None, enabled: bool) -> None:
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                registration = find_registration(db, issuer, client_id)
                registration.enabled = enabled
                click.echo(f"{'enabled' if enabled else 'disabled'} {registration.issuer} "
                           f"client id {registration.client_id}")
        except PlatformError as exc:
            fail(str(exc))
        _forget_origins(runtime)

    @platform.command("disable")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    def platform_disable(issuer, client_id) -> None:
        """Refuse launches and grade delivery for a registration (kept, reversible)."""
        _set_enabled(issuer, client_id, False)

    @platform.command("enable")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    def platform_enable(issuer, client_id) -> None:
        """Accept launches again for a disabled registration."""
        _set_enabled(issuer, client_id, True)

    @platform.command("remove")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    @click.option("--yes", is_flag=True, help="Confirm: this deletes its users' attempts too.")
    def platform_remove(issuer, client_id, yes) -> None:
        """Delete a registration and everything that belongs to it."""
        if not yes:
            fail("this deletes the registration and all its attempts; add --yes to confirm "
                 "(or use 'platform disable')")
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                registration = find_registration(db, issuer, client_id)
                db.delete(registration)
                click.echo(f"removed {issuer} client id {registration.client_id}")
        except PlatformError as exc:
            fail(str(exc))
        _forget_origins(runtime)

    @main.group()
    def deployment() -> None:
        """Deployments of a registration (active or held)."""

    def _change(issuer, client_id, deployment_id, active):
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                registration = find_registration(db, issuer, client_id)
                set_deployment(db, registration, deployment_id, active=active)
                click.echo(f"deployment {deployment_id} of {registration.issuer} "
                           f"({registration.client_id}) is {'active' if active else 'held'}")
        except PlatformError as exc:
            fail(str(exc))

    @deployment.command("add")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    @click.argument("deployment_id")
    def deployment_add(issuer, client_id, deployment_id) -> None:
        """Add an active deployment."""
        _change(issuer, client_id, deployment_id, True)

    @deployment.command("activate")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    @click.argument("deployment_id")
    def deployment_activate(issuer, client_id, deployment_id) -> None:
        """Activate a deployment (for example one a launch recorded and held)."""
        _change(issuer, client_id, deployment_id, True)

    @deployment.command("deactivate")
    @click.option("--issuer", required=True)
    @click.option("--client-id")
    @click.argument("deployment_id")
    def deployment_deactivate(issuer, client_id, deployment_id) -> None:
        """Hold a deployment: its launches are refused until it is activated."""
        _change(issuer, client_id, deployment_id, False)

    @deployment.command("list")
    @click.option("--issuer")
    def deployment_list(issuer) -> None:
        """List deployments, held ones first."""
        runtime = runtime_from_settings()
        with runtime.session() as db:
            statement = select(Deployment, Registration).join(Registration)
            if issuer:
                statement = statement.where(Registration.issuer == issuer.rstrip("/"))
            rows = db.execute(
                statement.order_by(Deployment.active, Deployment.first_seen_at)
            ).all()
            if not rows:
                click.echo("no deployments")
            for d, r in rows:
                click.echo(f"{'active' if d.active else 'HELD'}\t{d.deployment_id}\t{r.issuer}\t"
                           f"client {r.client_id}\tfirst seen {d.first_seen_at:%Y-%m-%d %H:%M}")
