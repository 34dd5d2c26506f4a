"""Settings: defaults, environment overlay, one-line errors."""

from __future__ import annotations

import pytest

from lti_tool.settings import SettingsError, load_settings


def test_embedded_default_generates_a_secret_once(tmp_path):
    env = {"LTI_TOOL_INSTANCE_PATH": str(tmp_path / "inst")}
    first = load_settings(environ=env)
    second = load_settings(environ=env)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert first.database_url == f"sqlite:///{tmp_path / 'inst' / 'lti_tool.sqlite3'}"
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_overrides_the_toml(tmp_path):
    settings = load_settings(environ={
        "LTI_TOOL_INSTANCE_PATH": str(tmp_path), "LTI_TOOL_BASE_URL": "https://tool.example.org/",
        "LTI_TOOL_JWT_LEEWAY_SECONDS": "5", "LTI_TOOL_PROXY_FIX": "true",
    })
    assert settings.base_url == "https://tool.example.org"
    assert settings.jwt_leeway_seconds == 5 and settings.proxy_fix is True


@pytest.mark.parametrize(("env", "message"), [
    ({"LTI_TOOL_DATABASE_URL": "postgresql://db/x"}, "setting secret_key: LTI_TOOL_SECRET_KEY is required"),
    ({"LTI_TOOL_BASE_URL": "tool.example.org"}, "setting base_url: expected an http(s) URL"),
    ({"LTI_TOOL_DATABASE_URL": "mysql://x"}, "setting database_url: expected"),
    ({"LTI_TOOL_REDIS_URL": "localhost:6379"}, "setting redis_url: expected redis://"),
    ({"LTI_TOOL_JWT_LEEWAY_SECONDS": "soon"}, "setting jwt_leeway_seconds: expected a non-negative number"),
    ({"LTI_TOOL_PROXY_FIX": "maybe"}, "setting proxy_fix: expected true or false"),
    ({"LTI_TOOL_SECRET_KEY": "short"}, "setting secret_key: use at least 32 characters"),
])
def test_a_bad_setting_stops_with_one_line_naming_it(tmp_path, env, message):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"LTI_TOOL_INSTANCE_PATH": str(tmp_path), **env})
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_postgres_with_a_shared_secret_is_accepted(tmp_path):
    settings = load_settings(environ={
        "LTI_TOOL_INSTANCE_PATH": str(tmp_path), "LTI_TOOL_DATABASE_URL": "postgresql://db/x",
        "LTI_TOOL_SECRET_KEY": "s" * 40,
    })
    assert settings.database_url == "postgresql+psycopg://db/x"
    assert not (tmp_path / "secret_key").exists()
