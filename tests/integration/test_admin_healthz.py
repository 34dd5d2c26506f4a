"""``/healthz`` tells a load balancer whether this process can serve: the database, the
shared store (Redis or the database) and the tool's keys. 503 when any of them fails, with
the failing check named and no detail an attacker could use."""

from __future__ import annotations

from sqlalchemy import create_engine, delete

from lti_tool.persistence import make_sessionmaker
from lti_tool.persistence.models import ToolKey


def test_a_healthy_tool_reports_each_check(client, backend):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"] == {"ok": True, "backend": "postgresql" if backend.is_postgres
                                  else "sqlite"}
    assert checks["cache"] == {"ok": True, "backend": "redis" if backend.is_postgres
                               else "database"}
    assert checks["keys"] == {"ok": True, "published": 1}


def test_an_unreachable_database_is_503(client, runtime, tmp_path):
    # A database file in a folder that does not exist: every connection fails.
    broken = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.sqlite3")
    runtime.sessionmaker = make_sessionmaker(broken)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert "missing" not in response.get_data(as_text=True)  # no paths or messages leak
    broken.dispose()


def test_an_unreachable_cache_is_503(client, runtime, monkeypatch):
    def down():
        raise ConnectionError("store down")

    monkeypatch.setattr(runtime.store, "ping", down)

    response = client.get("/healthz")

    assert response.status_code == 503
    cache = response.get_json()["checks"]["cache"]
    assert cache["ok"] is False and cache["error"] == "ConnectionError"
    assert response.get_json()["checks"]["database"]["ok"] is True


def test_no_tool_key_is_503(client, dbs):
    dbs.execute(delete(ToolKey))
    dbs.commit()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["checks"]["keys"]["ok"] is False


def test_a_key_the_secret_cannot_decrypt_is_503(backend, tool_private_key):
    """Hosts behind one load balancer must share LTI_TOOL_SECRET_KEY: one that does not
    fails its health check instead of signing nothing."""
    from tests.conftest import build_app

    build_app(backend, tool_private_key)  # creates the key with the shared test secret
    from lti_tool import create_app

    other = create_app({"base_url": "http://localhost", **backend.config,
                        "secret_key": "a-different-secret-" + "z" * 30})
    backend.cleanups.insert(0, other.extensions["lti_tool"].dispose)

    response = other.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["checks"]["keys"]["ok"] is False
