"""Registrations and deployments at launch: unknown deployments are recorded and held or
accepted; disabled registrations refuse; one issuer with two client ids stays two tools."""

from __future__ import annotations

import pytest
from launch_platform import Driver, FakePlatform, error_code, launch_session_id, register
from sqlalchemy import select

from lti_tool.persistence.models import Deployment, LaunchSession, LtiUser, Registration


@pytest.fixture
def platform():
    return FakePlatform()


@pytest.fixture
def driver(client, platform):
    return Driver(client, platform)


def deployments(dbs, registration_id: int) -> dict[str, bool]:
    dbs.expire_all()
    rows = dbs.scalars(select(Deployment).where(Deployment.registration_id == registration_id))
    return {row.deployment_id: row.active for row in rows}


def test_unknown_deployment_is_recorded_and_held(dbs, driver, platform):
    registration = register(dbs, platform, policy="hold")

    response = driver.launch(deployment_id="course-install-9")

    page = response.get_data(as_text=True)
    assert (response.status_code, error_code(response)) == (403, "deployment_not_active")
    assert "course-install-9" in page
    assert (f"lti-tool deployment activate --issuer {platform.issuer} "
            f"--client-id {platform.client_id} course-install-9") in page
    assert deployments(dbs, registration.id) == {platform.deployment_id: True,
                                                 "course-install-9": False}
    assert dbs.scalars(select(LaunchSession)).all() == []


def test_held_deployment_stays_refused_until_activated(dbs, driver, platform):
    registration = register(dbs, platform, policy="hold")
    assert error_code(driver.launch(deployment_id="d-9")) == "deployment_not_active"
    assert error_code(driver.launch(deployment_id="d-9")) == "deployment_not_active"
    assert deployments(dbs, registration.id) == {platform.deployment_id: True, "d-9": False}

    row = dbs.scalars(select(Deployment).where(Deployment.deployment_id == "d-9")).one()
    row.active = True
    dbs.commit()
    assert driver.launch(deployment_id="d-9").status_code == 303


def test_accept_policy_activates_an_unknown_deployment(dbs, driver, platform):
    registration = register(dbs, platform, policy="accept")
    response = driver.launch(deployment_id="course-install-10")
    assert response.status_code == 303
    assert deployments(dbs, registration.id)["course-install-10"] is True
    session = dbs.get(LaunchSession, launch_session_id(response))
    assert session.deployment_id == "course-install-10"


def test_deactivated_deployment_is_refused_even_under_accept(dbs, driver, platform):
    register(dbs, platform, policy="accept", deployments={"d-1": False})
    assert error_code(driver.launch(deployment_id="d-1")) == "deployment_not_active"


def test_hold_refusal_keeps_the_json_command(dbs, driver, platform):
    register(dbs, platform)
    state, nonce = driver.start()
    token = platform.sign(platform.claims(nonce, deployment_id="d-json"))
    response = driver.client.post("/lti/launch", data={"state": state, "id_token": token},
                                  headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["command"].endswith("--client-id client-1 d-json")


def test_registration_disabled_between_login_and_launch_is_refused(dbs, driver, platform):
    registration = register(dbs, platform)
    state, nonce = driver.start()
    dbs.get(Registration, registration.id).enabled = False
    dbs.commit()
    response = driver.post_launch(state, platform.sign(platform.claims(nonce)))
    assert (response.status_code, error_code(response)) == (403, "registration_disabled")


def test_registration_removed_between_login_and_launch_is_refused(dbs, driver, platform):
    registration = register(dbs, platform)
    state, nonce = driver.start()
    dbs.delete(dbs.get(Registration, registration.id))
    dbs.commit()
    response = driver.post_launch(state, platform.sign(platform.claims(nonce)))
    assert (response.status_code, error_code(response)) == (400, "registration_unknown")


def test_one_issuer_two_client_ids_are_two_registrations(dbs, client, platform):
    """Canvas: one issuer, a developer key (client id) per tool install. The same sub under
    two client ids is two users, and a token for one client id cannot open the other."""
    first = register(dbs, platform, client_id="client-1")
    second = register(dbs, platform, client_id="client-2")
    driver = Driver(client, platform)

    one = driver.launch()
    state, nonce = driver.start(client_id="client-2")
    two = driver.post_launch(state, platform.sign(platform.claims(nonce, aud="client-2")))

    assert one.status_code == two.status_code == 303
    sessions = [dbs.get(LaunchSession, launch_session_id(r)) for r in (one, two)]
    assert [s.registration_id for s in sessions] == [first.id, second.id]
    users = dbs.scalars(select(LtiUser).order_by(LtiUser.id)).all()
    assert [(u.registration_id, u.sub) for u in users] == [
        (first.id, "learner-sub-1"), (second.id, "learner-sub-1")]

    # A login for client-2 finished with a token made for client-1: wrong audience.
    state, nonce = driver.start(client_id="client-2")
    crossed = driver.post_launch(state, platform.sign(platform.claims(nonce, aud="client-1")))
    assert error_code(crossed) == "launch_audience_invalid"


def test_trailing_slash_on_the_issuer_is_the_same_platform(dbs, driver, platform):
    register(dbs, platform)
    state, nonce = driver.start(iss=platform.issuer + "/")
    token = platform.sign(platform.claims(nonce, iss=platform.issuer + "/"))
    assert driver.post_launch(state, token).status_code == 303
