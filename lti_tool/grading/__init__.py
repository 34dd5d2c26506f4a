"""Grade delivery: the outbox rows that ``services.grades`` writes, sent to platforms.

- ``delivery``: claim due rows as leases, send each score, record the outcome.
- ``runner``: ``deliver_due(runtime, worker_id, limit)`` and the loop ``run_worker``
  (grades, requested roster syncs, housekeeping).
- ``roster_sync``: the NRPS roster sync the loop runs.
- ``thread``: ``start_delivery_thread(runtime)`` for the single server process (SQLite).
- ``policy``: leases, backoff, batch size, polling.

Every call to a platform goes through ``lti_tool.lti.platform_client``.
"""
