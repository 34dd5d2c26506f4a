"""``/lti/canvas.json`` checked field by field against Canvas's documented developer-key
configuration ("Anatomy of a JSON configuration" and the navigation placement settings in
Canvas's own docs, canvas-lms doc/api/lti_dev_key_config.md and navigation_tools.md)."""

from __future__ import annotations

import pytest

# Canvas's documented values (written from its docs, not from the tool's code).
ALLOWED_SCOPES = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://canvas.instructure.com/lti/public_jwk/scope/update",
}
PRIVACY_LEVELS = {"anonymous", "public", "name_only", "email_only"}
MESSAGE_TYPES = {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
TOP_LEVEL_KEYS = {"title", "description", "oidc_initiation_url", "target_link_uri", "scopes",
                  "extensions", "public_jwk", "public_jwk_url", "custom_fields"}
EXTENSION_KEYS = {"domain", "tool_id", "platform", "privacy_level", "settings"}
PLACEMENT_KEYS = {"placement", "message_type", "target_link_uri", "text", "icon_url",
                  "enabled", "visibility", "default", "custom_fields", "selection_height",
                  "selection_width", "canvas_icon_class", "required_permissions",
                  "windowTarget", "display_type"}


@pytest.fixture
def config(sqlite_app):
    response = sqlite_app.test_client().get("/lti/canvas.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_only_documented_fields_are_used(config):
    assert set(config) <= TOP_LEVEL_KEYS
    for extension in config["extensions"]:
        assert set(extension) <= EXTENSION_KEYS
        for placement in extension["settings"]["placements"]:
            assert set(placement) <= PLACEMENT_KEYS


def test_required_top_level_fields(config):
    base = "http://localhost"  # the test app's base_url
    assert config["title"] == "Competency assessment: Service improvement"
    assert "Service improvement" in config["description"]
    assert config["oidc_initiation_url"] == f"{base}/lti/login"
    assert config["target_link_uri"] == f"{base}/lti/launch"
    # public_jwk_url rather than public_jwk: rotation publishes new keys without a change
    # in Canvas.
    assert config["public_jwk_url"] == f"{base}/lti/jwks"
    assert "public_jwk" not in config


def test_scopes_are_the_ags_and_nrps_ones_canvas_allows(config):
    assert set(config["scopes"]) <= ALLOWED_SCOPES
    assert set(config["scopes"]) == {
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    }
    assert len(config["scopes"]) == len(set(config["scopes"]))


def test_the_canvas_extension(config):
    [extension] = config["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] in PRIVACY_LEVELS
    # Names for the roster and reviews, email to tell learners with one name apart.
    assert extension["privacy_level"] == "public"
    assert extension["domain"] == "localhost"
    assert extension["tool_id"]


def _placements(config) -> dict[str, dict]:
    [extension] = config["extensions"]
    placements = extension["settings"]["placements"]
    by_name = {p["placement"]: p for p in placements}
    assert len(by_name) == len(placements), "a placement is listed twice"
    return by_name


def test_educators_add_the_activity_through_deep_linking(config):
    placements = _placements(config)
    for name in ("assignment_selection", "link_selection"):
        placement = placements[name]
        assert placement["message_type"] == "LtiDeepLinkingRequest"
        assert placement["target_link_uri"] == "http://localhost/lti/launch"
        assert placement["enabled"] is True
        assert placement["text"]


def test_course_navigation_is_for_teachers_only_and_opens_the_course_list(config):
    navigation = _placements(config)["course_navigation"]
    assert navigation["message_type"] == "LtiResourceLinkRequest"
    assert navigation["target_link_uri"].endswith("/lti/launch?placement=course_navigation")
    # Canvas: "admins" means only Teachers, TAs, Designers and account admins see the link.
    assert navigation["visibility"] == "admins"
    assert navigation["default"] in {"enabled", "disabled"}
    assert navigation["enabled"] is True


def test_every_placement_uses_a_known_message_type(config):
    for placement in _placements(config).values():
        assert placement["message_type"] in MESSAGE_TYPES


def test_urls_follow_the_base_url(sqlite_backend, tool_private_key):
    from tests.conftest import build_app

    app = build_app(sqlite_backend, tool_private_key, base_url="https://tool.example.org/ksf")
    config = app.test_client().get("/lti/canvas.json").get_json()
    assert config["oidc_initiation_url"] == "https://tool.example.org/ksf/lti/login"
    assert config["extensions"][0]["domain"] == "tool.example.org"
    navigation = _placements(config)["course_navigation"]
    assert navigation["target_link_uri"] == (
        "https://tool.example.org/ksf/lti/launch?placement=course_navigation")
    for cleanup in sqlite_backend.cleanups:
        cleanup()
