"""``lti-tool`` as an admin uses it: init, platforms (with presets), deployments, keys,
registration URLs and admin tokens. Every failure is one clear line on stderr and a
non-zero exit, never a traceback.

Commands run through click's CliRunner with ``LTI_TOOL_*`` variables, on SQLite and on a
PostgreSQL schema of the test's own (the search path travels in the database URL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lti_tool.cli import main
from lti_tool.persistence import utcnow
from lti_tool.persistence.models import Registration, RegistrationInvite
from lti_tool.runtime import Runtime
from lti_tool.services.registrations import hash_invite
from lti_tool.settings import load_settings
from lti_tool.web.admin import verify_admin_token
from tests.conftest import PG_URL, TEST_SECRET

BASE_URL = "https://tool.example.org"


class Cli:
    """Runs ``lti-tool`` commands against one test database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()
        self.runtimes: list[Runtime] = []

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(main, list(args), env=self.env)
        if ok:
            assert result.exit_code == 0, (args, result.stdout, result.stderr,
                                           result.exception)
        return result

    def fails(self, *args: str, code: int = 1) -> str:
        """Run a command that must fail; returns its single stderr line."""
        result = self(*args, ok=False)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), f"unhandled: {result.exception!r}"
        return one_line(result.stderr)

    def runtime(self) -> Runtime:
        runtime = Runtime(load_settings(environ=self.env))
        self.runtimes.append(runtime)
        return runtime


def one_line(stderr: str) -> str:
    """The error output must be exactly one line starting with ``error:``."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


def cli_env(backend, tmp_path: Path) -> dict[str, str]:
    env = {"LTI_TOOL_INSTANCE_PATH": str(tmp_path / "instance"),
           "LTI_TOOL_SECRET_KEY": TEST_SECRET, "LTI_TOOL_BASE_URL": BASE_URL}
    if backend.is_postgres:
        schema = backend.config["database_schema"]
        env["LTI_TOOL_DATABASE_URL"] = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    else:
        env["LTI_TOOL_DATABASE_URL"] = backend.config["database_url"]
    return env


@pytest.fixture
def cli(backend, tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("LTI_TOOL_") and not name.startswith("LTI_TOOL_TEST_"):
            monkeypatch.delenv(name)
    made = Cli(cli_env(backend, tmp_path))
    yield made
    for runtime in made.runtimes:
        runtime.dispose()


@pytest.fixture
def ready(cli):
    cli("init")
    return cli


# -- init -------------------------------------------------------------------------------


def test_init_is_idempotent(cli):
    first = cli("init")
    assert "database is up to date" in first.stdout
    assert "created tool key" in first.stdout

    second = cli("init")
    assert "a tool key exists" in second.stdout

    keys = cli("keys", "list").stdout.strip().splitlines()
    assert len(keys) == 1 and "\tsigning\t" in keys[0]


@pytest.mark.parametrize("args", [("platform", "list"), ("deployment", "list"),
                                  ("keys", "list"), ("registration-url",),
                                  ("grades", "status"), ("serve",)])
def test_commands_refuse_a_database_that_was_never_set_up(cli, args):
    line = cli.fails(*args)
    assert line == "error: the database is not set up: run 'lti-tool init' first"


# -- platforms ------------------------------------------------------------------------------


def test_moodle_preset_fills_in_the_endpoints(ready):
    out = ready("platform", "add", "--preset", "moodle", "--url", "https://moodle.example.org/",
                "--client-id", "abc123", "--deployment-id", "4").stdout
    assert "registered https://moodle.example.org client id abc123" in out

    listed = ready("platform", "list").stdout
    assert "https://moodle.example.org\tclient abc123\tpolicy hold" in listed
    assert "deployments 1 active, 0 held" in listed
    with ready.runtime().session() as db:
        row = db.scalar(select(Registration))
        assert row.auth_login_url == "https://moodle.example.org/mod/lti/auth.php"
        assert row.auth_token_url == "https://moodle.example.org/mod/lti/token.php"
        assert row.key_set_url == "https://moodle.example.org/mod/lti/certs.php"
        assert row.product_family == "moodle"


@pytest.mark.parametrize(("environment", "issuer", "sso"), [
    ([], "https://canvas.instructure.com", "https://sso.canvaslms.com"),
    (["--environment", "beta"], "https://canvas.beta.instructure.com",
     "https://sso.beta.canvaslms.com"),
    (["--environment", "test"], "https://canvas.test.instructure.com",
     "https://sso.test.canvaslms.com"),
])
def test_canvas_preset_accepts_new_deployments(ready, environment, issuer, sso):
    ready("platform", "add", "--preset", "canvas", *environment, "--client-id",
          "10000000000042")
    listed = ready("platform", "list").stdout
    assert f"{issuer}\tclient 10000000000042\tpolicy accept" in listed
    with ready.runtime().session() as db:
        row = db.scalar(select(Registration))
        assert row.auth_login_url == f"{sso}/api/lti/authorize_redirect"
        assert row.key_set_url == f"{sso}/api/lti/security/jwks"


def test_one_canvas_issuer_holds_several_client_ids(ready):
    ready("platform", "add", "--preset", "canvas", "--client-id", "1")
    ready("platform", "add", "--preset", "canvas", "--client-id", "2")
    assert ready("platform", "list").stdout.count("https://canvas.instructure.com") == 2
    line = ready.fails("platform", "disable", "--issuer", "https://canvas.instructure.com")
    assert "give --client-id" in line
    ready("platform", "disable", "--issuer", "https://canvas.instructure.com",
          "--client-id", "2")


def test_manual_platform_add_names_what_is_missing(ready):
    line = ready.fails("platform", "add", "--client-id", "x", "--issuer", "https://lms.example")
    assert "--auth-login-url" in line and "--key-set-url" in line and "--preset" in line


def test_a_bad_url_is_refused_in_one_line(ready):
    line = ready.fails("platform", "add", "--issuer", "lms.example.org", "--client-id", "x",
                       "--auth-login-url", "https://a", "--auth-token-url", "https://t",
                       "--key-set-url", "https://k")
    assert "issuer" in line and "http(s) URL" in line


def test_the_same_registration_twice_is_refused(ready):
    args = ("platform", "add", "--preset", "moodle", "--url", "https://m.example.org",
            "--client-id", "c1")
    ready(*args)
    assert "already registered" in ready.fails(*args)


def test_disable_enable_and_remove(ready):
    ready("platform", "add", "--preset", "moodle", "--url", "https://m.example.org",
          "--client-id", "c1")
    ready("platform", "disable", "--issuer", "https://m.example.org")
    assert "\tDISABLED\t" in ready("platform", "list").stdout
    ready("platform", "enable", "--issuer", "https://m.example.org")
    assert "\tenabled\t" in ready("platform", "list").stdout

    assert "--yes" in ready.fails("platform", "remove", "--issuer", "https://m.example.org")
    ready("platform", "remove", "--issuer", "https://m.example.org", "--yes")
    assert ready("platform", "list").stdout.strip() == "no platforms registered"
    assert "no registration for issuer" in ready.fails(
        "platform", "disable", "--issuer", "https://m.example.org")


# -- deployments -------------------------------------------------------------------------


def test_deployments_add_hold_activate_and_list_held_first(ready):
    ready("platform", "add", "--preset", "moodle", "--url", "https://m.example.org",
          "--client-id", "c1")
    issuer = ("--issuer", "https://m.example.org")
    ready("deployment", "add", *issuer, "11")
    ready("deployment", "add", *issuer, "12")
    out = ready("deployment", "deactivate", *issuer, "12").stdout
    assert "deployment 12 of https://m.example.org (c1) is held" in out

    rows = ready("deployment", "list").stdout.strip().splitlines()
    assert [r.split("\t")[:2] for r in rows] == [["HELD", "12"], ["active", "11"]]

    ready("deployment", "activate", *issuer, "12")
    assert "HELD" not in ready("deployment", "list").stdout
    assert "no registration" in ready.fails("deployment", "add", "--issuer",
                                            "https://nowhere.example.org", "1")


# -- keys --------------------------------------------------------------------------------


def test_keys_rotate_and_retire(ready):
    [old] = [line.split("\t")[0] for line in ready("keys", "list").stdout.splitlines()]
    out = ready("keys", "rotate").stdout
    new = out.split()[3].rstrip(";")
    assert new != old and "retire the old one" in out

    states = dict(line.split("\t")[:2] for line in ready("keys", "list").stdout.splitlines())
    assert states == {old: "published", new: "signing"}

    assert "keys rotate' first" in ready.fails("keys", "retire", new)
    ready("keys", "retire", old)
    assert dict(line.split("\t")[:2] for line in
                ready("keys", "list").stdout.splitlines())[old] == "retired"
    assert "no live key" in ready.fails("keys", "retire", old)


# -- registration-url and admin-token --------------------------------------------------------


def test_registration_url_prints_a_single_use_expiring_address(ready):
    result = ready("registration-url", "--expires-hours", "2")
    url = result.stdout.strip()
    assert url.startswith(f"{BASE_URL}/lti/register?invite=")
    assert "single use" in result.stderr and "expires" in result.stderr
    token = parse_qs(urlsplit(url).query)["invite"][0]
    assert len(token) >= 40
    with ready.runtime().session() as db:
        [invite] = db.scalars(select(RegistrationInvite)).all()
        assert invite.token_hash == hash_invite(token) and token not in invite.token_hash
        lasts = invite.expires_at - utcnow()
        assert timedelta(hours=1, minutes=59) < lasts <= timedelta(hours=2)
        assert invite.used_at is None
    second = ready("registration-url").stdout.strip()
    assert second != url


@pytest.mark.parametrize("hours", ["0", "-3", "200", "soon"])
def test_registration_url_lifetimes_are_bounded(ready, hours):
    result = ready("registration-url", "--expires-hours", hours, ok=False)
    assert result.exit_code == 2
    assert "--expires-hours" in result.stderr


def test_admin_token_prints_an_address_that_opens_the_admin_page(cli):
    # No database needed: the token is signed with the shared secret.
    result = cli("admin-token", "--hours", "3")
    url = result.stdout.strip()
    assert url.startswith(f"{BASE_URL}/admin?token=")
    token = parse_qs(urlsplit(url).query)["token"][0]
    expires = verify_admin_token(TEST_SECRET, token)
    assert timedelta(hours=2, minutes=59) < expires - utcnow() <= timedelta(hours=3)
    assert "treat it like a password" in result.stderr
    assert cli("admin-token", "--hours", "169", ok=False).exit_code == 2


# -- one line on every failure -------------------------------------------------------------


COMMANDS = [("init",), ("serve",), ("sandbox",), ("worker", "--once"), ("platform", "list"),
            ("deployment", "list"), ("keys", "list"), ("keys", "rotate"),
            ("grades", "status"), ("registration-url",), ("admin-token",)]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_bad_setting_stops_every_command_with_one_line(cli, args):
    cli.env["LTI_TOOL_BASE_URL"] = "tool.example.org"
    line = cli.fails(*args)
    assert line.startswith("error: setting base_url: expected an http(s) URL")


def test_an_unreachable_database_is_one_line(cli):
    cli.env["LTI_TOOL_DATABASE_URL"] = (
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    line = cli.fails("platform", "list")
    assert line.startswith("error: cannot reach the database")


def test_worker_refuses_sqlite_in_one_line(sqlite_backend, tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("LTI_TOOL_") and not name.startswith("LTI_TOOL_TEST_"):
            monkeypatch.delenv(name)
    cli = Cli(cli_env(sqlite_backend, tmp_path))
    cli("init")
    assert "needs PostgreSQL" in cli.fails("worker", "--once")


def _subprocess(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LTI_TOOL_")}
    return subprocess.run([str(Path(sys.executable).parent / "lti-tool"), *args],
                          env={**clean, **env}, capture_output=True, text=True, timeout=120)


def test_the_console_script_fails_with_one_line(ready):
    done = _subprocess(ready.env, "keys", "retire", "no-such-kid")
    assert done.returncode == 1
    assert one_line(done.stderr) == "error: no live key with kid 'no-such-kid'"
    assert done.stdout == ""


def test_the_console_script_names_a_bad_setting(cli):
    done = _subprocess({**cli.env, "LTI_TOOL_LOG_FORMAT": "xml"}, "platform", "list")
    assert done.returncode == 1
    assert one_line(done.stderr) == "error: setting log_format: expected text or json"


def test_the_console_script_works(ready):
    done = _subprocess(ready.env, "registration-url")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{BASE_URL}/lti/register?invite=")
