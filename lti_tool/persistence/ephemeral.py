"""Short-lived shared state: login state, nonces, used id_tokens, key sets, access tokens.

Never per-process memory: two processes behind one load balancer must see the same
entries. Redis when configured, otherwise a table in the database. Each operation runs
in its own short transaction, so a single-use check holds even if the request that made
it later fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from lti_tool.persistence import utcnow
from lti_tool.persistence.models import EphemeralEntry

_table = EphemeralEntry.__table__


class EphemeralStore(Protocol):
    """A key-value store with expiry and atomic single-use operations."""

    def add(self, key: str, value: str, ttl: int) -> bool:
        """Store ``value`` only if ``key`` is absent (or expired); True when stored."""

    def set(self, key: str, value: str, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""

    def get(self, key: str) -> str | None:
        """The live value of ``key``, or None."""

    def pop(self, key: str) -> str | None:
        """Atomically read and delete ``key``: only one caller ever gets the value."""

    def delete(self, key: str) -> None:
        """Forget ``key``."""

    def incr(self, key: str, ttl: int) -> int:
        """Count up a fixed-window counter that starts expiring at its first increment."""

    def ping(self) -> None:
        """Raise when the store is unreachable."""


class SqlStore:
    """The database-backed store of the embedded default (and of hosts without Redis)."""

    kind = "database"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def _sweep(self, connection, key: str) -> None:
        connection.execute(
            delete(_table).where(_table.c.key == key, _table.c.expires_at <= utcnow())
        )

    def add(self, key: str, value: str, ttl: int) -> bool:
        now = utcnow()
        with self.engine.begin() as connection:
            self._sweep(connection, key)
            statement = (
                self._insert(_table)
                .values(key=key, value=value, expires_at=now + timedelta(seconds=ttl))
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(_table.c.key)
            )
            # rowcount is -1 for ON CONFLICT DO NOTHING on PostgreSQL: use RETURNING.
            return connection.execute(statement).first() is not None

    def set(self, key: str, value: str, ttl: int) -> None:
        expires = utcnow() + timedelta(seconds=ttl)
        with self.engine.begin() as connection:
            statement = self._insert(_table).values(key=key, value=value, expires_at=expires)
            statement = statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "expires_at": expires}
            )
            connection.execute(statement)

    def get(self, key: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(_table.c.value).where(_table.c.key == key, _table.c.expires_at > utcnow())
            ).scalar()

    def pop(self, key: str) -> str | None:
        with self.engine.begin() as connection:
            row = connection.execute(
                delete(_table).where(_table.c.key == key).returning(
                    _table.c.value, _table.c.expires_at
                )
            ).first()
        if row is None or row.expires_at <= utcnow():
            return None
        return row.value

    def delete(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_table).where(_table.c.key == key))

    def incr(self, key: str, ttl: int) -> int:
        now = utcnow()
        with self.engine.begin() as connection:
            self._sweep(connection, key)
            inserted = connection.execute(
                self._insert(_table)
                .values(key=key, value="1", expires_at=now + timedelta(seconds=ttl))
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(_table.c.key)
            ).first()
            if inserted is not None:
                return 1
            # Row-level lock on PostgreSQL; SQLite serialises writers anyway.
            current = connection.execute(
                select(_table.c.value).where(_table.c.key == key).with_for_update()
            ).scalar()
            count = int(current or 0) + 1
            connection.execute(update(_table).where(_table.c.key == key).values(value=str(count)))
            return count

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def sweep_expired(self) -> int:
        """Delete every expired entry; returns how many went."""
        with self.engine.begin() as connection:
            return connection.execute(
                delete(_table).where(_table.c.expires_at <= utcnow())
            ).rowcount or 0


class RedisStore:
    """Redis-backed store for production (keys live under ``prefix``)."""

    kind = "redis"

    def __init__(self, url: str, prefix: str = "lti_tool:") -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self.client.set(self._k(key), value, ex=max(1, ttl), nx=True))

    def set(self, key: str, value: str, ttl: int) -> None:
        self.client.set(self._k(key), value, ex=max(1, ttl))

    def get(self, key: str) -> str | None:
        return self.client.get(self._k(key))

    def pop(self, key: str) -> str | None:
        return self.client.getdel(self._k(key))

    def delete(self, key: str) -> None:
        self.client.delete(self._k(key))

    def incr(self, key: str, ttl: int) -> int:
        pipe = self.client.pipeline()
        pipe.incr(self._k(key))
        pipe.expire(self._k(key), max(1, ttl), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def ping(self) -> None:
        self.client.ping()

    def sweep_expired(self) -> int:
        return 0  # Redis expires keys itself.


def make_store(engine: Engine, redis_url: str, prefix: str = "lti_tool:") -> SqlStore | RedisStore:
    """Redis when ``redis_url`` is set, else the database."""
    if redis_url:
        return RedisStore(redis_url, prefix)
    return SqlStore(engine)
