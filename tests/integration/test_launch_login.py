"""OIDC login initiation: parameters, registration lookup, state cookie and the redirect."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from launch_platform import LAUNCH_URL, Driver, FakePlatform, error_code, register

from tests.conftest import build_app


@pytest.fixture
def platform():
    return FakePlatform()


@pytest.fixture
def driver(client, platform):
    return Driver(client, platform)


@pytest.fixture
def sqlite_driver(sqlite_app, platform):
    """For checks of the request alone, where the storage backend cannot matter."""
    with sqlite_app.extensions["lti_tool"].session() as session:
        register(session, platform)
    return Driver(sqlite_app.test_client(), platform)


@pytest.mark.parametrize("method", ["get", "post"])
def test_login_redirects_to_the_platform_with_a_get(dbs, driver, platform, method):
    register(dbs, platform)
    response, query = driver.login(method=method)

    assert response.status_code == 302
    target = urlsplit(response.location)
    assert f"{target.scheme}://{target.netloc}{target.path}" == platform.issuer + "/auth"
    assert query == {
        "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
        "prompt": "none", "client_id": platform.client_id, "redirect_uri": LAUNCH_URL,
        "login_hint": "hint-1", "lti_message_hint": "message-hint-1",
        "state": query["state"], "nonce": query["nonce"],
    }
    assert len(query["state"]) >= 40 and len(query["nonce"]) >= 40
    assert query["state"] != query["nonce"]


def test_state_cookie_is_partitioned_secure_and_scoped_to_lti(dbs, driver, platform):
    register(dbs, platform)
    response, query = driver.login()

    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    name, attributes = cookies[0].split("=", 1)[0], cookies[0].split(";")[1:]
    assert name.startswith("lti_state_") and query["state"] not in cookies[0]
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in attributes}
    assert {"secure", "httponly", "partitioned", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"] == "SameSite=None"
    assert attributes["path"] == "Path=/lti/"
    assert attributes["max-age"] == "Max-Age=600"


def test_each_login_gets_its_own_state_cookie(dbs, driver, platform):
    """Two tool iframes on one course page log in at once: neither may undo the other."""
    register(dbs, platform)
    first, _ = driver.login()
    second, _ = driver.login()
    name = lambda r: r.headers["Set-Cookie"].split("=", 1)[0]  # noqa: E731
    assert name(first) != name(second)


@pytest.mark.parametrize("proxy_fix", [True, False])
def test_cookie_is_secure_behind_a_tls_terminating_proxy(backend, tool_private_key, platform,
                                                         proxy_fix):
    """The proxy speaks plain HTTP to the tool. With or without ProxyFix the state cookie
    is Secure and SameSite=None, and the redirect URI is the public HTTPS one."""
    public = "https://tool.example.org"
    app = build_app(backend, tool_private_key, base_url=public, proxy_fix=proxy_fix)
    with app.extensions["lti_tool"].session() as session:
        register(session, platform)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tool.example.org",
               "X-Forwarded-For": "203.0.113.9"}
    driver = Driver(app.test_client(), platform)
    response = driver.client.get(
        "/lti/login", headers=headers,
        query_string=driver.login_params(target_link_uri=public + "/lti/launch"))

    assert response.status_code == 302
    assert driver.login_query(response)["redirect_uri"] == public + "/lti/launch"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=None" in cookie and "Partitioned" in cookie


@pytest.mark.parametrize("missing", ["iss", "login_hint", "target_link_uri"])
def test_login_without_a_required_parameter_is_refused(sqlite_driver, missing):
    response, _ = sqlite_driver.login(**{missing: None})
    assert response.status_code == 400
    assert error_code(response) == "login_param_missing"
    assert missing in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("target", [
    "https://evil.example.org/lti/launch",
    "http://localhost.evil.example.org/lti/launch",
    "https://localhost/lti/launch",  # another scheme is another site
    "not a url",
])
def test_login_for_a_target_outside_the_tool_is_refused(sqlite_driver, target):
    response, _ = sqlite_driver.login(target_link_uri=target)
    assert response.status_code == 400
    assert error_code(response) == "login_target_invalid"


def test_unknown_issuer_is_refused(dbs, driver, platform):
    register(dbs, platform)
    response, _ = driver.login(iss="https://unknown.example.org")
    assert response.status_code == 400
    assert error_code(response) == "registration_unknown"


def test_unknown_client_id_is_refused(dbs, driver, platform):
    register(dbs, platform)
    response, _ = driver.login(client_id="someone-else")
    assert (response.status_code, error_code(response)) == (400, "registration_unknown")


def test_single_registration_is_found_without_client_id(dbs, driver, platform):
    register(dbs, platform)
    response, query = driver.login(client_id=None)
    assert response.status_code == 302
    assert query["client_id"] == platform.client_id


def test_several_client_ids_need_the_client_id(dbs, driver, platform):
    register(dbs, platform)
    register(dbs, platform, client_id="client-2")
    response, _ = driver.login(client_id=None)
    assert (response.status_code, error_code(response)) == (400, "client_id_required")

    response, query = driver.login(client_id="client-2")
    assert response.status_code == 302 and query["client_id"] == "client-2"


def test_disabled_registration_is_refused_at_login(dbs, driver, platform):
    register(dbs, platform, enabled=False)
    response, _ = driver.login()
    assert (response.status_code, error_code(response)) == (403, "registration_disabled")
    assert "disabled" in response.get_data(as_text=True)


def test_refusal_is_a_page_for_the_iframe_or_json(sqlite_driver, platform):
    driver = sqlite_driver
    page = driver.client.get("/lti/login", query_string={"iss": platform.issuer})
    assert page.mimetype == "text/html"
    assert "login_param_missing" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)

    data = driver.client.get("/lti/login", query_string={"iss": platform.issuer},
                             headers={"Accept": "application/json"})
    assert data.status_code == 400
    assert data.get_json()["error"] == "login_param_missing"


def test_jwks_publishes_the_tool_keys_with_a_cache_header(client, runtime, dbs):
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    keys = response.get_json()["keys"]
    assert [k["kid"] for k in keys] == [k.kid for k in runtime.keyring.list_keys(dbs)]
    assert all(k["kty"] == "RSA" and "d" not in k for k in keys)

    new_kid = runtime.keyring.rotate(dbs)
    dbs.commit()
    kids = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]
    assert new_kid in kids and len(kids) == 2
