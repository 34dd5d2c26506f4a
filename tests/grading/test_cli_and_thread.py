"""``lti-tool worker`` and ``grades status|retry``, and the server's delivery thread."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from lti_tool.cli import main
from lti_tool.grading.policy import DeliveryPolicy
from lti_tool.grading.thread import start_delivery_thread, stop_delivery_thread
from tests.conftest import PG_URL, TEST_SECRET


@pytest.fixture
def cli_env(monkeypatch):
    """Point ``lti-tool`` (run in-process) at a world's database through LTI_TOOL_*."""

    def point(world):
        settings = world.runtime.settings
        url = settings.database_url
        schema = settings.extra.get("database_schema")
        if schema:
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        monkeypatch.setenv("LTI_TOOL_DATABASE_URL", url)
        monkeypatch.setenv("LTI_TOOL_SECRET_KEY", TEST_SECRET)
        monkeypatch.setenv("LTI_TOOL_BASE_URL", world.stack.tool_url)
        monkeypatch.setenv("LTI_TOOL_INSTANCE_PATH", str(settings.instance_path))
        monkeypatch.delenv("LTI_TOOL_REDIS_URL", raising=False)
        return CliRunner()

    return point


def test_worker_refuses_sqlite_with_one_line(world, cli_env):
    result = cli_env(world).invoke(main, ["worker", "--once"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: lti-tool worker needs PostgreSQL: with SQLite the server delivers grades "
        "itself in one background thread"]


def test_worker_once_delivers_on_postgresql(pg_world, cli_env):
    arrange = pg_world.arrange
    activity = arrange.activity(arrange.link("rl-a1"))
    outbox_id = arrange.attempt(activity, "learner-1").final(level=2)
    result = cli_env(pg_world).invoke(main, ["worker", "--once", "--id", "cli-worker"])
    assert result.exit_code == 0, result.output
    assert "delivered 1, retrying 0, failed 0" in result.output
    assert arrange.row(outbox_id).status == "delivered"
    assert pg_world.lms.result(pg_world.lms.lineitem_url("rl-a1"), "learner-1")[
        "resultScore"] == 2


def test_grades_status_and_retry(world, cli_env):
    arrange = world.arrange
    activity = arrange.activity(arrange.link("rl-a1"))
    arrange.attempt(activity, "learner-1").final(level=2)
    arrange.drain()
    stranger = arrange.attempt(activity, "stranger-9")
    superseded = stranger.submit()
    stranger.review(level=1)
    failed = stranger.sign_off()
    arrange.deliver()
    waiting = arrange.attempt(activity, "learner-2").submit()
    runner = cli_env(world)

    result = runner.invoke(main, ["grades", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "pending: 1  delivered: 1  failed: 1  superseded: 2"
    assert lines[1].startswith("oldest pending: ") and "0 being sent now" in lines[1]
    assert lines[2] == (
        f"failed #{failed} registration {arrange.registration_id} learner stranger-9 after "
        "1 tries: score_rejected: HTTP 400: userId is not an enrolled learner of this context")
    assert lines[3] == "retry them with: lti-tool grades retry --failed"

    result = runner.invoke(main, ["grades", "retry", "--id", str(superseded)])
    assert result.exit_code == 1
    assert result.output == (f"error: row {superseded} is older than row {failed} for the same "
                             f"learner: retry row {failed} instead\n")
    assert runner.invoke(main, ["grades", "retry"]).exit_code == 1

    result = runner.invoke(main, ["grades", "retry", "--failed"])
    assert result.exit_code == 0
    assert result.output == f"requeued 1: #{failed}\n"
    row = arrange.row(failed)
    assert (row.status, row.tries, row.last_error) == ("pending", 0, None)
    assert arrange.row(waiting).status == "pending"


def test_the_server_delivery_thread_is_one_per_process_and_delivers(world):
    arrange = world.arrange
    policy = DeliveryPolicy(poll_seconds=0.05, backoff_base_seconds=0.05)
    thread = start_delivery_thread(world.runtime, policy=policy)
    try:
        assert start_delivery_thread(world.runtime, policy=policy) is thread
        assert thread.daemon and thread.is_alive()
        activity = arrange.activity(arrange.link("rl-a1"))
        outbox_id = arrange.attempt(activity, "learner-3").final(level=4)
        deadline = time.monotonic() + 10
        while arrange.row(outbox_id).status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert arrange.row(outbox_id).status == "delivered"
        assert world.lms.result(world.lms.lineitem_url("rl-a1"), "learner-3")[
            "resultScore"] == 4
    finally:
        assert stop_delivery_thread() is True
    assert not thread.is_alive()
