"""Platform key sets: cached in the shared store, fetched again once on an unknown kid,
and never more than once per ``key_set_refetch_seconds`` per registration."""

from __future__ import annotations

import time

from launch_platform import Driver, error_code, register

from tests.conftest import build_app


def test_key_set_is_fetched_once_and_cached(driver, platform):
    for _ in range(3):
        assert driver.launch().status_code == 303
    assert platform.fetches == 1


def test_cache_is_shared_by_every_app_on_the_same_storage(backend, tool_private_key, driver,
                                                          platform):
    """A second process (another app on the same database or Redis) uses the cached set."""
    assert driver.launch().status_code == 303
    other_process = build_app(backend, tool_private_key)
    state, nonce = Driver(other_process.test_client(), platform).start()
    response = Driver(other_process.test_client(), platform).post_launch(
        state, platform.sign(platform.claims(nonce)))
    # Cookie-less second client: the launch reaches the state check, not the key set.
    assert error_code(response) == "launch_cookie_blocked"
    other = Driver(other_process.test_client(), platform)
    assert other.launch().status_code == 303
    assert platform.fetches == 1


def test_platform_key_rotation_is_picked_up_by_one_refetch(driver, platform):
    assert driver.launch().status_code == 303
    platform.add_key("key-2")
    platform.publish("key-1", "key-2")

    response = driver.launch(sign={"kid": "key-2"})

    assert response.status_code == 303
    assert platform.fetches == 2
    # The refreshed set is cached: more launches with either key fetch nothing.
    assert driver.launch(sign={"kid": "key-2"}).status_code == 303
    assert driver.launch().status_code == 303
    assert platform.fetches == 2


def test_unknown_kid_refetches_at_most_once_per_window(driver, platform):
    assert driver.launch().status_code == 303
    for kid in ("forged-1", "forged-2", "forged-3"):
        response = driver.launch(sign={"kid": kid})
        assert (response.status_code, error_code(response)) == (400, "launch_kid_unknown")
    assert platform.fetches == 2  # the first fetch, then one refetch in the window

    # Within the window even a genuine rotation waits (the limit protects the platform).
    platform.add_key("key-2")
    platform.publish("key-1", "key-2")
    assert error_code(driver.launch(sign={"kid": "key-2"})) == "launch_kid_unknown"
    assert platform.fetches == 2


def test_refetch_window_is_per_registration(dbs, client, platform, driver):
    """Another client id of the same issuer has its own refetch allowance."""
    register(dbs, platform, client_id="client-2")
    assert driver.launch().status_code == 303
    assert error_code(driver.launch(sign={"kid": "forged"})) == "launch_kid_unknown"
    assert platform.fetches == 2

    platform.add_key("key-2")
    platform.publish("key-1", "key-2")
    second = Driver(client, platform)
    state, nonce = second.start(client_id="client-2")
    token = platform.sign(platform.claims(nonce, aud="client-2"), kid="key-2")
    assert second.post_launch(state, token).status_code == 303
    assert platform.fetches == 3


def test_refetch_allowed_again_after_the_window(backend, tool_private_key, dbs, platform):
    # One second is the shortest window Redis keeps.
    app = build_app(backend, tool_private_key, key_set_refetch_seconds=1)
    driver = Driver(app.test_client(), platform)
    assert driver.launch().status_code == 303
    assert error_code(driver.launch(sign={"kid": "forged"})) == "launch_kid_unknown"
    platform.add_key("key-2")
    platform.publish("key-1", "key-2")
    time.sleep(1.1)
    assert driver.launch(sign={"kid": "key-2"}).status_code == 303
    assert platform.fetches == 3


def test_unreachable_key_set_is_a_clear_page_not_a_crash(driver, platform):
    platform.set_down()
    response = driver.launch()
    page = response.get_data(as_text=True)
    assert (response.status_code, error_code(response)) == (502, "platform_key_set_unavailable")
    assert "public keys" in page and "Traceback" not in page


def test_key_set_that_is_not_a_jwks_is_refused(driver, platform):
    platform.server.key_sets[platform.name] = {"not": "a key set"}
    response = driver.launch()
    assert error_code(response) == "platform_key_set_unavailable"
