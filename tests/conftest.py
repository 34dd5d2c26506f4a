"""Shared fixtures: a backend per test (SQLite, or PostgreSQL + Redis), the app, its client.

PostgreSQL tests get a schema of their own in database ``test`` and Redis a key prefix of
their own, so tests run in parallel (pytest-xdist). Without those services the tests skip
with a reason, unless LTI_TOOL_TEST_REQUIRE_SERVICES=1 (CI), which makes a skip a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

PG_URL = os.environ.get("LTI_TOOL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LTI_TOOL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("LTI_TOOL_TEST_REQUIRE_SERVICES") == "1"
TEST_SECRET = "test-secret-" + "x" * 40


def skip_or_fail(reason: str):
    """Skip with ``reason`` on a developer machine; fail in CI, where nothing may skip."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required by CI but unavailable: {reason}")
    pytest.skip(reason)


_service_state: dict[str, str | None] = {}


def _service_problem(name: str) -> str | None:
    if name not in _service_state:
        try:
            if name == "postgres":
                from sqlalchemy import create_engine

                engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
                with engine.connect() as connection:
                    connection.execute(text("select 1"))
                engine.dispose()
            else:
                import redis

                redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
            _service_state[name] = None
        except Exception as exc:
            _service_state[name] = f"{name} unavailable ({type(exc).__name__})"
    return _service_state[name]


@dataclass
class Backend:
    """Settings overrides that put the app on one storage backend."""

    name: str
    config: dict = field(default_factory=dict)
    cleanups: list = field(default_factory=list)

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"


def make_backend(name: str, tmp_path) -> Backend:
    """A fresh, migrated-on-demand backend named ``name`` (sqlite | postgres)."""
    base = {"instance_path": str(tmp_path / "instance"), "secret_key": TEST_SECRET}
    if name == "sqlite":
        base["database_url"] = f"sqlite:///{tmp_path / 'tool.sqlite3'}"
        return Backend(name, base)
    for service in ("postgres", "redis"):
        problem = _service_problem(service)
        if problem:
            skip_or_fail(problem)
    schema = "t_" + uuid.uuid4().hex[:16]
    prefix = f"test:{schema}:"
    from sqlalchemy import create_engine

    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base.update(database_url=PG_URL, redis_url=REDIS_URL, database_schema=schema,
                redis_prefix=prefix)

    def cleanup():
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)

    return Backend(name, base, [cleanup])


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """Each test that takes it runs on SQLite and on PostgreSQL + Redis."""
    made = make_backend(request.param, tmp_path)
    yield made
    for cleanup in made.cleanups:
        cleanup()


@pytest.fixture
def sqlite_backend(tmp_path):
    """Only the embedded default (for tests where the backend cannot matter)."""
    return make_backend("sqlite", tmp_path)


@pytest.fixture(scope="session")
def tool_private_key():
    """One RSA key for the whole run: generating one per test costs ~60 ms each."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_sqlite_template: dict[str, Path] = {}


def _migrated_sqlite_copy(target: Path) -> None:
    """Copy a database migrated once per test process: migrating per test costs ~0.3 s."""
    from lti_tool.persistence import make_engine, migrate

    if "path" not in _sqlite_template:
        folder = Path(tempfile.mkdtemp(prefix="lti-tool-template-"))
        template = folder / "template.sqlite3"
        engine = make_engine(f"sqlite:///{template}")
        migrate(engine)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _sqlite_template["path"] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(_sqlite_template["path"], target)


def build_app(backend: Backend, tool_private_key, **overrides):
    """A migrated app with one tool key, on ``backend``."""
    from lti_tool import create_app
    from lti_tool.persistence import migrate

    config = {"base_url": "http://localhost", **backend.config, **overrides}
    url = config.get("database_url", "")
    if url.startswith("sqlite:///"):
        _migrated_sqlite_copy(Path(url[len("sqlite:///"):]))
    app = create_app(config)
    runtime = app.extensions["lti_tool"]
    migrate(runtime.engine)  # a no-op on the copied template; real work on PostgreSQL
    with runtime.session() as db:
        runtime.keyring.create(db, tool_private_key)
    backend.cleanups.insert(0, runtime.dispose)
    return app


@pytest.fixture
def app(backend, tool_private_key):
    return build_app(backend, tool_private_key)


@pytest.fixture
def sqlite_app(sqlite_backend, tool_private_key):
    made = build_app(sqlite_backend, tool_private_key)
    yield made
    for cleanup in sqlite_backend.cleanups:
        cleanup()


@pytest.fixture
def runtime(app):
    return app.extensions["lti_tool"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dbs(runtime):
    """A session for arranging and asserting (commit what you arrange)."""
    session = runtime.sessionmaker()
    yield session
    session.close()
