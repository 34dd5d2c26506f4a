"""Fixtures for the launch tests: a fake platform registered with the app, and a driver
that walks login -> launch through the Flask test client."""

from __future__ import annotations

import pytest
from launch_platform import Driver, FakePlatform, register


@pytest.fixture
def platform(dbs):
    made = FakePlatform()
    register(dbs, made)
    return made


@pytest.fixture
def driver(client, platform):
    return Driver(client, platform)


@pytest.fixture
def sqlite_driver(sqlite_app):
    """For checks where claims differ, not storage: the embedded default is enough."""
    made = FakePlatform()
    with sqlite_app.extensions["lti_tool"].session() as session:
        register(session, made)
    return Driver(sqlite_app.test_client(), made)
