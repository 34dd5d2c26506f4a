"""``init``, ``serve`` and ``sandbox``: set up an instance and run the tool."""

from __future__ import annotations

import click

from lti_tool.cli.common import CliError, fail, runtime_from_settings

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_DEPLOYMENT_ID = "sandbox-deployment-1"


def init_instance(runtime) -> list[str]:
    """Migrate the database and make sure a tool key exists; idempotent. Returns what it did."""
    from lti_tool.persistence import migrate

    done = []
    migrate(runtime.engine)
    done.append("database is up to date")
    with runtime.session() as db:
        kid = runtime.keyring.ensure_key(db)
    done.append(f"created tool key {kid}" if kid else "a tool key exists")
    return done


def register_sandbox(runtime, sandbox_issuer: str) -> None:
    """Register the mounted sandbox LMS with the tool (idempotent)."""
    from lti_tool.services.platforms import PlatformInput, upsert_platform

    with runtime.session() as db:
        upsert_platform(
            db,
            PlatformInput(
                name="Sandbox LMS",
                issuer=sandbox_issuer,
                client_id=SANDBOX_CLIENT_ID,
                auth_login_url=f"{sandbox_issuer}/auth",
                auth_token_url=f"{sandbox_issuer}/token",
                key_set_url=f"{sandbox_issuer}/jwks",
                deployment_policy="hold",
                deployment_ids=[SANDBOX_DEPLOYMENT_ID],
            ),
        )


def _gunicorn(app_factory, host: str, port: int, workers: int, threads: int,
              post_worker_init=None) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("accesslog", "-")
            # %(U)s leaves the query string out: it carries launch sessions and tokens.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s')
            if post_worker_init is not None:
                self.cfg.set("post_worker_init", post_worker_init)

        def load(self):
            return app_factory()

    _Server().run()


def _post_worker_init(worker) -> None:
    """Start grade delivery inside the single server process (the embedded default)."""
    app = worker.wsgi
    runtime = getattr(app, "lti_runtime", None)
    if runtime is not None and runtime.settings.runs_delivery_thread:
        from lti_tool.grading.thread import start_delivery_thread

        start_delivery_thread(runtime)


def _serve(host: str, port: int, workers: int, threads: int, overrides: dict) -> None:
    runtime = runtime_from_settings()
    if runtime.settings.is_sqlite and workers != 1:
        click.echo("note: SQLite serves from one process; using --workers 1", err=True)
        workers = 1
    if not runtime.settings.is_sqlite and runtime.settings.runs_delivery_thread:
        click.echo("note: grades are delivered in this process (delivery_thread=on)", err=True)
    runtime.dispose()

    def factory():
        from lti_tool import create_app

        app = create_app(overrides)
        # Gunicorn hands post_worker_init the WSGI callable: expose the runtime on it.
        app.lti_runtime = app.extensions["lti_tool"]
        return app

    _gunicorn(factory, host, port, workers, threads, _post_worker_init)


def register(main: click.Group) -> None:
    @main.command()
    def init() -> None:
        """Create the instance folder, migrate the database, generate a tool key."""
        runtime = runtime_from_settings(require_schema=False)
        try:
            for line in init_instance(runtime):
                click.echo(line)
        except CliError:
            raise
        except Exception as exc:
            fail(f"init failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        click.echo(f"instance: {runtime.settings.instance_path}")

    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    @click.option("--workers", default=2, show_default=True, type=int)
    @click.option("--threads", default=4, show_default=True, type=int)
    def serve(host: str, port: int, workers: int, threads: int) -> None:
        """Run the tool with gunicorn."""
        _serve(host, port, workers, threads, {})

    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    def sandbox(host: str, port: int) -> None:
        """Run the tool with the sandbox LMS mounted at /sandbox (trying it out; not for
        production)."""
        runtime = runtime_from_settings()
        base = runtime.settings.base_url
        if runtime.settings.base_url == "http://127.0.0.1:5000" and port != 5000:
            base = f"http://{host}:{port}"
        register_sandbox(runtime, f"{base}/sandbox")
        runtime.dispose()
        click.echo(f"Sandbox LMS: {base}/sandbox/  (tool: {base}/)")
        # The mounted sandbox is a plain-http local address: let dynamic registration reach it.
        _serve(host, port, 1, 8, {"sandbox": True, "base_url": base,
                                  "allow_private_registration_urls": True})
