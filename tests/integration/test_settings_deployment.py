"""Settings an admin sets for a deployment (docs/deploy.md) do what they say: a bad one
stops the app from starting; the proxy, registration and logging settings change what the
running tool does."""

from __future__ import annotations

import pytest

from lti_tool import create_app
from lti_tool.settings import SettingsError, load_settings

SECRET = "s" * 40


def env(tmp_path, **values: str) -> dict[str, str]:
    return {"LTI_TOOL_INSTANCE_PATH": str(tmp_path), "LTI_TOOL_SECRET_KEY": SECRET,
            **{f"LTI_TOOL_{k.upper()}": v for k, v in values.items()}}


def test_safe_defaults(tmp_path):
    settings = load_settings(environ=env(tmp_path))
    assert settings.allow_private_registration_urls is False
    assert settings.proxy_fix is False
    assert settings.log_format == "text"
    assert settings.http_timeout_seconds > 0


@pytest.mark.parametrize("value", ["true", "1", "yes", "on"])
def test_private_registration_urls_can_be_allowed_for_local_testing(tmp_path, value):
    settings = load_settings(environ=env(tmp_path, allow_private_registration_urls=value))
    assert settings.allow_private_registration_urls is True


@pytest.mark.parametrize(("values", "names"), [
    ({"allow_private_registration_urls": "sometimes"}, "allow_private_registration_urls"),
    ({"http_timeout_seconds": "0"}, "http_timeout_seconds"),
    ({"log_format": "xml"}, "log_format"),
    ({"delivery_thread": "maybe"}, "delivery_thread"),
])
def test_a_bad_deployment_setting_is_named_in_one_line(tmp_path, values, names):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=env(tmp_path, **values))
    assert names in str(caught.value) and "\n" not in str(caught.value)


def test_the_app_does_not_start_on_a_bad_setting(tmp_path):
    with pytest.raises(SettingsError, match="log_format"):
        create_app({"instance_path": str(tmp_path), "secret_key": SECRET,
                    "log_format": "yaml"})


def test_base_url_with_a_path_prefixes_every_public_url(tmp_path):
    settings = load_settings(environ=env(tmp_path, base_url="https://apps.example.org/ksf/"))
    assert settings.base_url == "https://apps.example.org/ksf"
    assert settings.url("/lti/launch") == "https://apps.example.org/ksf/lti/launch"


def _rate_limited_after(client, headers_for) -> int:
    """How many registration requests pass before the 429 (at most 20 tried)."""
    for n in range(20):
        response = client.get("/lti/register", query_string={"invite": f"x{n}"},
                              headers=headers_for(n))
        if response.status_code == 429:
            return n
    return 20


def test_behind_a_proxy_the_rate_limit_counts_the_real_client(sqlite_backend,
                                                              tool_private_key):
    from tests.conftest import build_app

    app = build_app(sqlite_backend, tool_private_key, proxy_fix=True)
    client = app.test_client()
    # Each request from a different client behind the proxy: nobody is limited.
    assert _rate_limited_after(
        client, lambda n: {"X-Forwarded-For": f"203.0.113.{n}",
                           "X-Forwarded-Proto": "https"}) == 20
    # One client: limited after 10.
    assert _rate_limited_after(
        client, lambda n: {"X-Forwarded-For": "198.51.100.1"}) == 10
    for cleanup in sqlite_backend.cleanups:
        cleanup()


def test_without_proxy_fix_a_forged_forwarded_for_does_not_escape_the_limit(client):
    # Without a proxy in front, X-Forwarded-For is the client's own claim: ignored.
    assert _rate_limited_after(
        client, lambda n: {"X-Forwarded-For": f"203.0.113.{n}"}) == 10


def test_proxy_fix_makes_urls_https_behind_tls_termination(sqlite_backend, tool_private_key):
    from flask import request

    from tests.conftest import build_app

    app = build_app(sqlite_backend, tool_private_key, proxy_fix=True,
                    base_url="https://tool.example.org")
    seen = {}

    @app.get("/_probe")
    def probe():
        seen.update(secure=request.is_secure, host=request.host,
                    remote=request.remote_addr)
        return "ok"

    app.test_client().get("/_probe", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "tool.example.org",
        "X-Forwarded-For": "203.0.113.9"})
    assert seen == {"secure": True, "host": "tool.example.org", "remote": "203.0.113.9"}
    for cleanup in sqlite_backend.cleanups:
        cleanup()
