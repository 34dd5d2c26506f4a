"""``worker`` and ``grades status|retry``: deliver grades and look after the outbox."""

from __future__ import annotations

import signal
import threading

import click
from sqlalchemy import func, select

from lti_tool.cli.common import fail, runtime_from_settings

SQLITE_REFUSAL = (
    "lti-tool worker needs PostgreSQL: with SQLite the server delivers grades itself "
    "in one background thread"
)


def status_report(runtime) -> list[str]:
    """The lines ``grades status`` prints: counts per status, the oldest pending row's
    age, and each failed row with the platform's reason."""
    from lti_tool.persistence import utcnow
    from lti_tool.persistence.models import GradeOutbox
    from lti_tool.services.grades import FAILED, PENDING, STATUSES, describe_age

    lines = []
    with runtime.session() as db:
        counts = dict(db.execute(
            select(GradeOutbox.status, func.count()).group_by(GradeOutbox.status)).all())
        lines.append("  ".join(f"{status}: {counts.get(status, 0)}" for status in STATUSES))
        oldest = db.scalar(select(func.min(GradeOutbox.created_at))
                           .where(GradeOutbox.status == PENDING))
        leased = db.scalar(select(func.count()).select_from(GradeOutbox).where(
            GradeOutbox.status == PENDING, GradeOutbox.claimed_until > utcnow()))
        if oldest is not None:
            lines.append(f"oldest pending: {describe_age(utcnow() - oldest)} old"
                         f" ({leased or 0} being sent now)")
        else:
            lines.append("oldest pending: none")
        failed = db.scalars(select(GradeOutbox).where(GradeOutbox.status == FAILED)
                            .order_by(GradeOutbox.id)).all()
        for row in failed:
            lines.append(
                f"failed #{row.id} registration {row.registration_id} learner {row.user_sub} "
                f"after {row.tries} tries: {row.last_error_code or 'error'}: "
                f"{row.last_error or ''}".rstrip()
            )
        if failed:
            lines.append("retry them with: lti-tool grades retry --failed")
    return lines


def register(main: click.Group) -> None:
    @main.command()
    @click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
    @click.option("--id", "worker_id", default=None, help="Name this worker in leases and logs.")
    @click.option("--lease-seconds", type=float, default=None,
                  help="How long a claimed row stays this worker's.")
    @click.option("--batch-size", type=int, default=None, help="Rows claimed at a time.")
    @click.option("--poll-seconds", type=float, default=None,
                  help="Pause between rounds when nothing is due.")
    def worker(once: bool, worker_id: str | None, lease_seconds: float | None,
               batch_size: int | None, poll_seconds: float | None) -> None:
        """Deliver grades to platforms and sync rosters (PostgreSQL; run any number)."""
        from lti_tool.grading.policy import DeliveryPolicy
        from lti_tool.grading.runner import default_worker_id, run_once, run_worker
        from lti_tool.settings import SettingsError, load_settings

        try:
            if load_settings().is_sqlite:
                fail(SQLITE_REFUSAL)
        except SettingsError as exc:
            fail(str(exc))
        for name, value in (("--lease-seconds", lease_seconds), ("--batch-size", batch_size),
                            ("--poll-seconds", poll_seconds)):
            if value is not None and value <= 0:
                fail(f"{name}: expected a positive number")
        runtime = runtime_from_settings()
        policy = DeliveryPolicy.from_settings(
            runtime.settings, lease_seconds=lease_seconds, batch_size=batch_size,
            poll_seconds=poll_seconds)
        worker_id = worker_id or default_worker_id()
        if once:
            delivered = failed = retrying = 0
            while True:
                counts = run_once(runtime, worker_id, policy)
                delivered += counts.delivered
                failed += counts.failed
                retrying += counts.retrying
                if counts.claimed < policy.batch_size:
                    break
            click.echo(f"delivered {delivered}, retrying {retrying}, failed {failed}")
            runtime.dispose()
            return
        stop = threading.Event()

        def _stop(_signum, _frame):
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        click.echo(f"worker {worker_id} delivering grades (Ctrl-C to stop)", err=True)
        run_worker(runtime, stop, worker_id=worker_id, policy=policy)
        runtime.dispose()

    @main.group()
    def grades() -> None:
        """The grade outbox: what is waiting, what failed, send again."""

    @grades.command("status")
    def grades_status() -> None:
        """Counts per status, the oldest pending row, and failed rows with the reason."""
        runtime = runtime_from_settings()
        try:
            for line in status_report(runtime):
                click.echo(line)
        finally:
            runtime.dispose()

    @grades.command("retry")
    @click.option("--failed", "all_failed", is_flag=True, help="Requeue every failed row.")
    @click.option("--id", "outbox_id", type=int, default=None, help="Requeue this row.")
    def grades_retry(all_failed: bool, outbox_id: int | None) -> None:
        """Requeue failed rows (--failed) or one row (--id N) for delivery now."""
        from lti_tool.services.grades import GradeServiceError, retry_rows

        if not all_failed and outbox_id is None:
            fail("say what to retry: --failed, --id N, or both")
        runtime = runtime_from_settings()
        try:
            with runtime.session() as db:
                rows = retry_rows(db, outbox_id=outbox_id, failed=all_failed)
                ids = [row.id for row in rows]
        except GradeServiceError as exc:
            fail(exc.message)
        finally:
            runtime.dispose()
        if ids:
            click.echo(f"requeued {len(ids)}: " + ", ".join(f"#{i}" for i in ids))
        else:
            click.echo("nothing to retry")
