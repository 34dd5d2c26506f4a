"""Grade delivery throughput: rows/s with 1 and 2 ``lti-tool worker`` processes on
PostgreSQL against the sandbox LMS, and token requests per N scores.

    .venv/bin/python -m bench.grade_delivery [--rows 1000] [--workers 1 2]
                                             [--latency 0 0.05] [--redis]

Each run gets a fresh PostgreSQL schema (database ``test`` at 127.0.0.1 unless
LTI_TOOL_BENCH_PG_URL says otherwise). The tool (for its JWKS) and the sandbox LMS run in
this process on ephemeral ports; the workers are real ``lti-tool worker`` processes, started
and idle before the rows are written, so start-up is not timed. ``--latency`` makes the
sandbox answer each score after that many seconds (its "slow" fault switch), as a real
platform does; 0 measures the tool and the sandbox flat out.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, insert, select, text
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("LTI_TOOL_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LTI_TOOL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-" + "x" * 40
CLIENT_ID = "sandbox-client"
DEPLOYMENT_ID = "sandbox-deployment-1"


class _Server:
    def __init__(self, host: str) -> None:
        self.app = None
        self.httpd = make_server(host, 0, self, threaded=True)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)

    def start(self, app) -> None:
        self.app = app
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Result:
    rows: int
    workers: int
    latency: float
    seconds: float
    token_requests: int
    score_posts: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} / {five:.2f}"


def run(rows: int, workers: int, latency: float, use_redis: bool) -> Result:
    """One measurement on a fresh schema; returns what it saw."""
    from lti_tool import create_app
    from lti_tool.persistence import migrate, utcnow
    from lti_tool.persistence.models import (
        Activity,
        Attempt,
        GradeOutbox,
        LtiContext,
        LtiUser,
        ResourceLink,
    )
    from lti_tool.sandbox import SandboxConfig, create_sandbox_app
    from lti_tool.services.platforms import PlatformInput, upsert_platform

    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    instance = tempfile.mkdtemp(prefix="lti-bench-")
    tool_server, lms_server = _Server("localhost"), _Server("127.0.0.1")
    tool_url = f"http://localhost:{tool_server.port}"
    lms_url = f"http://127.0.0.1:{lms_server.port}"
    config = {"database_url": PG_URL, "database_schema": schema, "secret_key": SECRET,
              "base_url": tool_url, "instance_path": instance, "log_level": "WARNING"}
    if use_redis:
        config.update(redis_url=REDIS_URL, redis_prefix=f"bench:{schema}:")
    app = create_app(config)
    runtime = app.extensions["lti_tool"]
    processes: list[subprocess.Popen] = []
    try:
        migrate(runtime.engine)
        sandbox_config = SandboxConfig(
            base_url=lms_url, tool_login_url=f"{tool_url}/lti/login",
            tool_launch_url=f"{tool_url}/lti/launch", tool_jwks_url=f"{tool_url}/lti/jwks",
            client_id=CLIENT_ID, deployment_id=DEPLOYMENT_ID, roster_size=rows)
        sandbox_app = create_sandbox_app(sandbox_config)
        sandbox = sandbox_app.extensions["sandbox"]
        now = utcnow()
        with runtime.session() as db:
            runtime.keyring.ensure_key(db)
            registration = upsert_platform(db, PlatformInput(
                name="Sandbox LMS", issuer=sandbox_config.issuer, client_id=CLIENT_ID,
                auth_login_url=sandbox_config.auth_login_url,
                auth_token_url=sandbox_config.token_url, key_set_url=sandbox_config.jwks_url,
                deployment_ids=[DEPLOYMENT_ID]))
            context = LtiContext(registration_id=registration.id, context_id="course-a",
                                 updated_at=now)
            db.add(context)
            db.flush()
            link = ResourceLink(
                context_pk=context.id, resource_link_id="rl-a1", updated_at=now,
                lineitem_url=sandbox.lineitem_url("course-a", "li-a1"),
                lineitems_url=sandbox.lineitems_url("course-a"), ags_scopes=[])
            db.add(link)
            db.flush()
            activity = Activity(public_id=f"bench-{schema}", registration_id=registration.id,
                                context_pk=context.id, resource_link_pk=link.id,
                                title="Bench", settings={}, created_at=now, updated_at=now)
            db.add(activity)
            db.flush()
            ids = (registration.id, link.id, activity.id)
        tool_server.start(app)
        lms_server.start(sandbox_app)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request
        if latency:
            sandbox.add_fault("scores", "slow", count=rows, delay=latency)

        env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_")}
        env.update({
            "LTI_TOOL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
            "LTI_TOOL_SECRET_KEY": SECRET, "LTI_TOOL_BASE_URL": tool_url,
            "LTI_TOOL_INSTANCE_PATH": instance, "LTI_TOOL_LOG_LEVEL": "WARNING",
        })
        if use_redis:
            env["LTI_TOOL_REDIS_URL"] = REDIS_URL
        for n in range(workers):
            processes.append(subprocess.Popen(
                [sys.executable, "-c", "from lti_tool.cli import main; main()", "worker",
                 "--id", f"bench-{n}", "--batch-size", "50", "--poll-seconds", "0.05"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # let the workers import and start polling
        for process in processes:
            if process.poll() is not None:
                raise SystemExit("a worker exited at start-up: run it by hand to see why")

        registration_id, link_pk, activity_pk = ids
        subs = [f"learner-s{n:03d}" for n in range(1, rows + 1)]
        with runtime.session() as db:
            now = utcnow()
            db.execute(insert(LtiUser), [{"registration_id": registration_id, "sub": s,
                                          "updated_at": now} for s in subs])
            users = dict(db.execute(select(LtiUser.sub, LtiUser.id)).all())
            db.execute(insert(Attempt), [
                {"activity_pk": activity_pk, "user_pk": users[s], "number": 1,
                 "status": "final", "state": {}, "final_score_sent": True, "created_at": now,
                 "updated_at": now, "version": 1} for s in subs])
            attempts = dict(db.execute(select(Attempt.user_pk, Attempt.id)).all())
            lineitem = sandbox.lineitem_url("course-a", "li-a1")
            db.execute(insert(GradeOutbox), [
                {"registration_id": registration_id, "attempt_pk": attempts[users[s]],
                 "activity_pk": activity_pk, "resource_link_pk": link_pk,
                 "user_pk": users[s], "user_sub": s, "lineitem_url": lineitem,
                 "payload": {"score": {"activityProgress": "Completed",
                                       "gradingProgress": "FullyGraded", "scoreGiven": 2,
                                       "scoreMaximum": 4, "comment": "Level 2"}},
                 "final": True, "status": "pending", "tries": 0, "next_attempt_at": now,
                 "created_at": now} for s in subs])
        # Timed from the moment the rows exist, as a burst of submissions leaves them.
        started = time.perf_counter()
        while True:
            with runtime.session() as db:
                pending = db.scalar(select(func.count()).select_from(GradeOutbox)
                                    .where(GradeOutbox.status != "delivered"))
            if not pending:
                break
            if time.perf_counter() - started > 600:
                raise SystemExit(f"gave up: {pending} rows still not delivered")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        counts = requests.get(f"{lms_url}/control/state", timeout=30).json()["counts"]
        return Result(rows, workers, latency, elapsed, counts.get("token", 0),
                      counts.get("scores", 0))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in (tool_server, lms_server):
            if server.thread.is_alive():
                server.stop()
        runtime.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        if use_redis:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"bench:{schema}:*"))
            if keys:
                client.delete(*keys)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--redis", action="store_true",
                        help="share tokens through Redis instead of the database")
    args = parser.parse_args(argv)
    print(f"machine: {_cpu()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load before: {_load()}")
    print("| platform latency | workers | rows | seconds | rows/s | score posts | "
          "token requests | load (1/5 min) after |")
    print("|---|---|---|---|---|---|---|---|")
    for latency in args.latency:
        for workers in args.workers:
            result = run(args.rows, workers, latency, args.redis)
            print(f"| {latency * 1000:.0f} ms | {workers} | {result.rows} | "
                  f"{result.seconds:.2f} | {result.rate:.0f} | {result.score_posts} | "
                  f"{result.token_requests} | {_load()} |", flush=True)


if __name__ == "__main__":
    main()
