"""Grade delivery inside the server process: the embedded default (SQLite).

Exactly one delivery thread per process, however often this is called, and ``lti-tool
serve`` starts it only where one process serves (SQLite forces ``--workers 1``), so
deliveries run in exactly one place. Never start it in several gunicorn workers: that is
what ``lti-tool worker`` and leases are for.
"""

from __future__ import annotations

import os
import threading

from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.grading.runner import default_worker_id, run_worker
from lti_tool.runtime import Runtime

_guard = threading.Lock()
_running: dict[str, object] = {}


def start_delivery_thread(runtime: Runtime, *, policy: DeliveryPolicy | None = None
                          ) -> threading.Thread:
    """Start the process's delivery thread (a daemon) unless it runs already; returns it.

    After a fork the child starts its own (the parent's thread does not survive a fork).
    """
    with _guard:
        thread = _running.get("thread")
        if (isinstance(thread, threading.Thread) and thread.is_alive()
                and _running.get("pid") == os.getpid()):
            return thread
        stop = threading.Event()
        worker_id = default_worker_id() + ":thread"
        thread = threading.Thread(
            target=run_worker, args=(runtime, stop),
            kwargs={"worker_id": worker_id, "policy": policy},
            name="lti-tool-grade-delivery", daemon=True,
        )
        _running.update(thread=thread, stop=stop, pid=os.getpid(), worker_id=worker_id)
        thread.start()
        return thread


def stop_delivery_thread(timeout: float = 10.0) -> bool:
    """Ask the delivery thread to stop and wait for it; True when it has stopped."""
    with _guard:
        thread = _running.pop("thread", None)
        stop = _running.pop("stop", None)
        _running.clear()
    if not isinstance(thread, threading.Thread):
        return True
    if isinstance(stop, threading.Event):
        stop.set()
    thread.join(timeout)
    return not thread.is_alive()
