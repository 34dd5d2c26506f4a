"""The delivery loop: due grade rows, requested roster syncs, and housekeeping.

``lti-tool worker`` runs :func:`run_worker` (PostgreSQL; any number of processes and
hosts); the embedded default runs it in one thread of the server process
(``lti_tool.grading.thread``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

from lti_tool.grading.delivery import DeliveryCounts, claim_due, deliver_jobs
from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.grading.roster_sync import sync_requested_rosters
from lti_tool.runtime import Runtime
from lti_tool.services.grades import WORKER_SEEN_KEY, WORKER_SEEN_SECONDS
from lti_tool.services.launches import prune_expired_sessions

log = logging.getLogger("lti_tool.grading")

HOUSEKEEPING_KEY = "grading:housekeeping"


def default_worker_id() -> str:
    """host:pid:random, unique enough to tell leases apart in logs and rows."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def deliver_due(runtime: Runtime, worker_id: str, limit: int = 20, *,
                policy: DeliveryPolicy | None = None) -> DeliveryCounts:
    """Claim up to ``limit`` due rows, send them and record each outcome."""
    policy = policy or DeliveryPolicy.from_settings(runtime.settings)
    lease_started = time.monotonic()
    jobs = claim_due(runtime, worker_id, limit, policy)
    if not jobs:
        return DeliveryCounts()
    return deliver_jobs(runtime, worker_id, jobs, policy, lease_started)


def housekeeping(runtime: Runtime, worker_id: str, policy: DeliveryPolicy) -> bool:
    """Prune expired launch sessions and sweep the short-lived store, at most once per
    ``housekeeping_seconds`` across every process (an atomic add in the shared store)."""
    if not runtime.store.add(HOUSEKEEPING_KEY, worker_id, int(policy.housekeeping_seconds)):
        return False
    with runtime.session() as db:
        pruned = prune_expired_sessions(db) or 0
    swept = runtime.store.sweep_expired() or 0
    log.info("housekeeping", extra={"launch_sessions_pruned": pruned, "entries_swept": swept,
                                    "worker": worker_id})
    return True


def run_once(runtime: Runtime, worker_id: str, policy: DeliveryPolicy, *,
             with_housekeeping: bool = True) -> DeliveryCounts:
    """One round: a batch of grades, requested roster syncs, housekeeping when due."""
    counts = deliver_due(runtime, worker_id, policy.batch_size, policy=policy)
    sync_requested_rosters(runtime, policy)
    if with_housekeeping:
        housekeeping(runtime, worker_id, policy)
    return counts


def run_worker(runtime: Runtime, stop_event: threading.Event, *, worker_id: str | None = None,
               policy: DeliveryPolicy | None = None) -> None:
    """Deliver until ``stop_event`` is set; idle rounds wait ``poll_seconds``.

    A failing round (database or store unreachable) is logged in one line and retried
    after a pause; the loop itself never dies of it.
    """
    worker_id = worker_id or default_worker_id()
    policy = policy or DeliveryPolicy.from_settings(runtime.settings)
    log.info("grade delivery started", extra={"worker": worker_id})
    failures = 0
    # Asking the shared store whether housekeeping is due is a write on the database
    # store: ask at most once a minute from each process.
    next_housekeeping_check = 0.0
    next_seen = 0.0
    while not stop_event.is_set():
        try:
            check = time.monotonic() >= next_housekeeping_check
            counts = run_once(runtime, worker_id, policy, with_housekeeping=check)
            if check:
                next_housekeeping_check = time.monotonic() + min(
                    60.0, policy.housekeeping_seconds)
            failures = 0
            if time.monotonic() >= next_seen:  # tell the dashboards a loop is alive
                runtime.store.set(WORKER_SEEN_KEY, worker_id, WORKER_SEEN_SECONDS)
                next_seen = time.monotonic() + 60.0
        except Exception as exc:  # keep delivering after a passing outage
            failures += 1
            log.error("delivery round failed: %s", type(exc).__name__,
                      extra={"worker": worker_id, "error": str(exc).splitlines()[0][:200]
                             if str(exc) else ""})
            stop_event.wait(min(policy.poll_seconds * 2 ** min(failures, 6), 60.0))
            continue
        if counts.claimed < policy.batch_size:
            stop_event.wait(policy.poll_seconds)
    log.info("grade delivery stopped", extra={"worker": worker_id})
