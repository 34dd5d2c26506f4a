"""How delivery paces itself: leases, backoff, batch sizes, polling.

Defaults suit production; tests and benchmarks pass smaller numbers (through
``settings.extra`` keys or the worker's command-line options) so nothing sleeps long.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from lti_tool.settings import Settings

#: ``settings.extra`` keys that tune the policy (tests pass them to ``create_app``).
EXTRA_KEYS = {
    "grade_lease_seconds": "lease_seconds",
    "grade_backoff_base_seconds": "backoff_base_seconds",
    "grade_backoff_cap_seconds": "backoff_cap_seconds",
    "grade_max_tries": "max_tries",
    "grade_batch_size": "batch_size",
    "grade_concurrency": "concurrency",
    "grade_poll_seconds": "poll_seconds",
    "roster_retry_seconds": "roster_retry_seconds",
    "housekeeping_seconds": "housekeeping_seconds",
}


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timing rules of grade delivery and the roster sync."""

    #: How long a claimed row belongs to its worker. It covers a batch's HTTP calls (a
    #: token, a line item lookup and creation, a score, a results check); a worker that
    #: dies loses its rows for this long at most.
    lease_seconds: float = 120.0
    #: Retry n waits about base * 2^(n-1) seconds (equal jitter), capped.
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 3600.0
    #: After this many failed tries a retryable failure is shown as failed (about a day
    #: and a half with the defaults): a person should look, and can send it again.
    max_tries: int = 40
    batch_size: int = 20
    #: Sends a worker makes side by side (PostgreSQL; SQLite sends one at a time).
    #: Platforms answer in tens or hundreds of milliseconds: waiting in parallel is what
    #: makes one worker fast.
    concurrency: int = 4
    #: How often an idle loop looks for due rows (a learner waits at most this long).
    poll_seconds: float = 1.0
    #: A roster sync that failed in a way that may pass is tried again after this.
    roster_retry_seconds: float = 60.0
    #: Housekeeping runs at most this often across all processes.
    housekeeping_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryPolicy:
        """The defaults, tuned by ``settings.extra`` keys, then by ``overrides``."""
        values: dict[str, Any] = {}
        lease_floor = 6 * settings.http_timeout_seconds
        values["lease_seconds"] = max(cls.lease_seconds, lease_floor)
        for key, field_name in EXTRA_KEYS.items():
            if key in settings.extra:
                values[field_name] = settings.extra[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    def backoff(self, tries: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``tries``-th failed try: exponential, equal jitter."""
        exponent = min(max(tries - 1, 0), 40)
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2**exponent)
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2
