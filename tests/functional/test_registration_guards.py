"""The registration URL cannot be used to make the tool call an address of someone's
choosing: it needs a live invite, refuses plain HTTP and private, loopback and link-local
addresses (whatever the host name resolves to), and is rate-limited per client address."""

from __future__ import annotations

import socket

import pytest

from lti_tool.lti import registration as dr
from lti_tool.services.registrations import RegistrationError, create_invite


@pytest.fixture
def invite(runtime) -> str:
    with runtime.session() as db:
        token, _ = create_invite(db)
    return token


@pytest.fixture
def no_outbound_calls(runtime, monkeypatch):
    """Fail the test if the tool makes any HTTP call."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"the tool called out: {args}")

    monkeypatch.setattr(runtime.http, "request", refuse)
    return calls


@pytest.mark.parametrize(("url", "says"), [
    ("http://lms.example.org/.well-known/openid-configuration", "does not use HTTPS"),
    ("https://127.0.0.1/.well-known/openid-configuration", "private or local"),
    ("https://localhost:8443/config", "private or local"),
    ("https://[::1]/config", "private or local"),
    ("https://10.1.2.3/config", "private or local"),
    ("https://192.168.0.10/config", "private or local"),
    ("https://169.254.169.254/latest/meta-data", "private or local"),
    ("https://user:pw@lms.example.org/config", "user name or password"),
    ("file:///etc/passwd", "not a web address"),
])
def test_addresses_the_tool_must_not_fetch_are_refused(client, invite, no_outbound_calls, url,
                                                       says):
    page = client.get("/lti/register", query_string={
        "invite": invite, "openid_configuration": url, "registration_token": "t"})

    assert page.status_code == 400
    assert page.headers["X-Error-Code"] == "registration_url_refused"
    assert says in page.get_data(as_text=True)
    assert no_outbound_calls == []


def _resolving_to(monkeypatch, *addresses: str) -> None:
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]

    monkeypatch.setattr(dr.socket, "getaddrinfo", fake_getaddrinfo)


def test_a_public_name_that_resolves_to_a_private_address_is_refused(runtime, monkeypatch):
    # DNS can point an innocent-looking name anywhere: every address it gives is checked.
    _resolving_to(monkeypatch, "93.184.216.34", "10.0.0.5")
    with pytest.raises(RegistrationError) as caught:
        dr.check_outbound_url("https://lms.example.org/config", runtime.settings)
    assert caught.value.code == "registration_url_refused"

    _resolving_to(monkeypatch, "::ffff:127.0.0.1")
    with pytest.raises(RegistrationError):
        dr.check_outbound_url("https://lms.example.org/config", runtime.settings)


def test_a_public_https_address_is_allowed(runtime, monkeypatch):
    _resolving_to(monkeypatch, "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    dr.check_outbound_url("https://lms.example.org/config", runtime.settings)


def test_an_unresolvable_name_is_explained(runtime, monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(dr.socket, "getaddrinfo", no_such_host)
    with pytest.raises(RegistrationError) as caught:
        dr.check_outbound_url("https://lms.invalid/config", runtime.settings)
    assert caught.value.code == "platform_unreachable"
    assert "does not resolve" in caught.value.message


def test_the_setting_allows_local_addresses_for_testing(tool_private_key, sqlite_backend):
    from tests.conftest import build_app

    app = build_app(sqlite_backend, tool_private_key, allow_private_registration_urls=True)
    settings = app.extensions["lti_tool"].settings
    dr.check_outbound_url("http://127.0.0.1:5000/sandbox/.well-known/openid-configuration",
                          settings)
    with pytest.raises(RegistrationError):
        dr.check_outbound_url("ftp://127.0.0.1/x", settings)
    for cleanup in sqlite_backend.cleanups:
        cleanup()


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_a_valid_invite_nothing_is_fetched(client, no_outbound_calls, method):
    params = {"invite": "made-up", "openid_configuration": "https://lms.example.org/c"}
    if method == "get":
        page = client.get("/lti/register", query_string=params)
    else:
        page = client.post("/lti/register", data=params)

    assert page.status_code == 403
    assert page.headers["X-Error-Code"] == "registration_invite_invalid"
    assert no_outbound_calls == []


def test_registration_requests_are_rate_limited_per_client_address(client, no_outbound_calls):
    codes = [client.get("/lti/register", query_string={"invite": f"guess-{n}"}).status_code
             for n in range(dr.RATE_LIMIT_PER_MINUTE)]
    assert codes == [403] * dr.RATE_LIMIT_PER_MINUTE

    limited = client.get("/lti/register", query_string={"invite": "one-more"})
    assert limited.status_code == 429
    assert limited.headers["X-Error-Code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "60"

    elsewhere = client.get("/lti/register", query_string={"invite": "x"},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 403  # another address has its own allowance


def test_a_confirm_without_the_fetched_configuration_is_refused(client, invite,
                                                                no_outbound_calls):
    # No GET happened (or it expired): the form's own fields are not trusted for endpoints.
    from flask import Flask

    app: Flask = client.application
    with app.test_request_context():
        csrf = dr.registration_csrf_token(invite)
    page = client.post("/lti/register", data={"invite": invite, "csrf_token": csrf})

    assert page.status_code == 400
    assert page.headers["X-Error-Code"] == "registration_session_expired"
