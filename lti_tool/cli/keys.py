"""``keys list|rotate|retire``: the tool's signing keys."""

from __future__ import annotations

import click

from lti_tool.cli.common import fail, runtime_from_settings
from lti_tool.lti.keys import KeyError_
from lti_tool.persistence import utcnow


def register(main: click.Group) -> None:
    @main.group()
    def keys() -> None:
        """The tool's signing keys (published at /lti/jwks)."""

    @keys.command("list")
    def keys_list() -> None:
        """List keys with their age; the signing key is marked."""
        runtime = runtime_from_settings()
        with runtime.session() as db:
            infos = runtime.keyring.list_keys(db)
        if not infos:
            click.echo("no keys: run 'lti-tool init'")
        now = utcnow()
        for info in infos:
            age = (now - info.created_at).days
            state = "retired" if info.retired_at else ("signing" if info.signing else "published")
            click.echo(f"{info.kid}\t{state}\tcreated {info.created_at:%Y-%m-%d} ({age} days)")

    @keys.command("rotate")
    def keys_rotate() -> None:
        """Create a new key that signs from now on; older keys stay published."""
        runtime = runtime_from_settings()
        with runtime.session() as db:
            kid = runtime.keyring.rotate(db)
        click.echo(f"new signing key {kid}; retire the old one once platforms have fetched "
                   "the new key set (a day is plenty)")

    @keys.command("retire")
    @click.argument("kid")
    def keys_retire(kid: str) -> None:
        """Stop publishing a key."""
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                runtime.keyring.retire(db, kid)
        except KeyError_ as exc:
            fail(str(exc))
        click.echo(f"retired {kid}")
