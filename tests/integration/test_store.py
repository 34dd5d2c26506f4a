"""The shared short-lived store behaves the same on the database and on Redis."""

from __future__ import annotations

import threading

from lti_tool.persistence import migrate


def test_add_is_set_if_absent_and_pop_is_single_use(runtime):
    store = runtime.store
    assert store.add("nonce:a", "1", 60) is True
    assert store.add("nonce:a", "2", 60) is False
    assert store.get("nonce:a") == "1"
    assert store.pop("nonce:a") == "1"
    assert store.pop("nonce:a") is None
    assert store.get("nonce:a") is None


def test_expired_entries_are_gone_and_can_be_added_again(runtime):
    store = runtime.store
    if store.kind == "database":
        # Expire without sleeping: write an entry that expired a second ago.
        from datetime import timedelta

        from lti_tool.persistence import utcnow
        from lti_tool.persistence.models import EphemeralEntry

        with runtime.session() as db:
            db.add(EphemeralEntry(key="old", value="x", expires_at=utcnow() - timedelta(seconds=1)))
        assert store.get("old") is None
        assert store.pop("old") is None
        assert store.add("old", "new", 60) is True
        assert store.get("old") == "new"
    else:
        store.client.set(store._k("old"), "x", px=1)
        import time

        time.sleep(0.01)
        assert store.get("old") is None
        assert store.add("old", "new", 60) is True


def test_set_replaces_and_delete_forgets(runtime):
    store = runtime.store
    store.set("k", "1", 60)
    store.set("k", "2", 60)
    assert store.get("k") == "2"
    store.delete("k")
    assert store.get("k") is None


def test_only_one_of_many_concurrent_adds_wins(runtime):
    """Single use across threads (and so across processes sharing the store)."""
    wins = []
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait()
        wins.append(runtime.store.add("token:once", "x", 60))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_incr_counts_within_a_window(runtime):
    assert [runtime.store.incr("rate:ip", 60) for _ in range(3)] == [1, 2, 3]


def test_migrations_are_idempotent_and_match_the_models(runtime):
    """The Alembic history builds exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lti_tool.persistence.models import Base

    migrate(runtime.engine)  # a second run changes nothing
    with runtime.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
