"""When the browser refuses the state cookie inside the LMS iframe, the learner gets a clear
way on: "Open in a new window", which runs the login again first-party."""

from __future__ import annotations

from launch_platform import Driver, FakePlatform, error_code, forms_of, register

from tests.conftest import build_app


def test_blocked_cookie_offers_a_new_window_that_completes_the_launch(app, dbs):
    platform = FakePlatform()
    register(dbs, platform)
    iframe = Driver(app.test_client(), platform)
    state, nonce = iframe.start(lti_message_hint="hint-for-link-7")

    # The platform posts the launch, but the browser did not keep the cookie in the iframe.
    cookieless = Driver(app.test_client(), platform)
    blocked = cookieless.post_launch(state, platform.sign(platform.claims(nonce)))

    assert (blocked.status_code, error_code(blocked)) == (400, "launch_cookie_blocked")
    page = blocked.get_data(as_text=True)
    assert "Open in a new window" in page and "launch_cookie_blocked" in page
    [form] = forms_of(page)
    assert (form["action"], form["method"], form["target"]) == ("/lti/login", "post", "_blank")
    assert set(form["fields"]) == {"relaunch"}

    # The new window (first-party, so cookies work) starts the login again.
    window = Driver(app.test_client(), platform)
    response = window.client.post("/lti/login", data=form["fields"])
    assert response.status_code == 302
    again = window.login_query(response)
    assert again["login_hint"] == "hint-1"
    assert again["lti_message_hint"] == "hint-for-link-7"
    assert again["client_id"] == platform.client_id
    assert again["state"] != state

    launched = window.post_launch(again["state"],
                                  platform.sign(platform.claims(again["nonce"])))
    assert launched.status_code == 303

    # The button works once.
    reused = window.client.post("/lti/login", data=form["fields"])
    assert (reused.status_code, error_code(reused)) == (400, "relaunch_expired")


def test_blocked_cookie_spends_the_state(app, dbs):
    """The cookieless post cannot be retried with the same state once cookies appear."""
    platform = FakePlatform()
    register(dbs, platform)
    iframe = Driver(app.test_client(), platform)
    state, nonce = iframe.start()
    token = platform.sign(platform.claims(nonce))
    blocked = Driver(app.test_client(), platform).post_launch(state, token)
    assert error_code(blocked) == "launch_cookie_blocked"

    retry = iframe.post_launch(state, token)
    assert (retry.status_code, error_code(retry)) == (400, "launch_state_invalid")


def test_made_up_relaunch_token_is_refused(client):
    response = client.post("/lti/login", data={"relaunch": "guessed"})
    assert (response.status_code, error_code(response)) == (400, "relaunch_expired")


def test_login_on_one_process_and_launch_on_another(backend, tool_private_key, app, dbs):
    """Behind a load balancer the launch may land on another process: state, nonce and
    key set live in the shared store, and the cookie travels with the browser."""
    platform = FakePlatform()
    register(dbs, platform)
    other_process = build_app(backend, tool_private_key)
    first = Driver(app.test_client(), platform)
    state, nonce = first.start()

    second = Driver(other_process.test_client(), platform)
    for cookie in first.client._cookies.values():
        second.client.set_cookie(cookie.key, cookie.value, path=cookie.path)
    response = second.post_launch(state, platform.sign(platform.claims(nonce)))

    assert response.status_code == 303
    assert first.client.get(response.location).status_code in {200, 303}
