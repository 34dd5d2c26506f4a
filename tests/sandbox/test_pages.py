"""The course page, the gradebook, mounting under a prefix, persistence, independence."""

from __future__ import annotations

import ast
from pathlib import Path

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client
from werkzeug.wrappers import Response

from lti_tool.sandbox import SandboxConfig, create_sandbox_app

SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
PACKAGE = Path(__file__).resolve().parents[2] / "lti_tool" / "sandbox"


def test_home_page_lists_links_with_launch_buttons_and_the_tool_frame(driver, client):
    html = client.get("/").get_data(as_text=True)
    page = driver.parse(html)
    assert [f["name"] for f in page.iframes] == ["tool"]
    assert "Improving Services" in html and "Team Leadership" in html
    for link in ("rl-a1", "rl-a2", "rl-b1"):
        assert f'name="link" value="{link}"' in html
    assert 'target="tool"' in html
    assert "Add activity (deep linking) as Chris Taylor" in html
    assert 'href="/gradebook"' in html
    assert "<script" not in html.split("<main>")[1]
    assert "https://" not in html.replace("https://purl.imsglobal.org", "")


def test_pages_escape_titles(client, sandbox):
    with sandbox.mutate() as data:
        data["links"]["rl-a1"]["title"] = "<img src=x onerror=alert(1)>"
        data["lineitems"]["li-a1"]["label"] = "<b>bold</b>"
    assert "<img src=x" not in client.get("/").get_data(as_text=True)
    assert "<b>bold</b>" not in client.get("/gradebook").get_data(as_text=True)


def test_gradebook_shows_the_latest_result(driver, client):
    token = driver.token([SCORE])
    for second, (given, grading, comment) in enumerate(
        [(1, "FullyGraded", "Level 1"), (3, "FullyGraded", "Level 3 - <target met>")]
    ):
        body = {"userId": "learner-1", "timestamp": f"2026-11-02T10:00:0{second}Z",
                "activityProgress": "Completed", "gradingProgress": grading,
                "scoreGiven": given, "scoreMaximum": 4, "comment": comment}
        assert driver.call("POST", "/api/ags/course-a/lineitems/li-a1/scores", token, json=body,
                           headers={"Content-Type": SCORE_TYPE}).status_code == 204
    html = client.get("/gradebook").get_data(as_text=True)
    row = html.split('data-user="learner-1"')[1].split("</tr>")[0]
    assert '<strong class="score">3 / 4</strong>' in row
    assert "Level 3 - &lt;target met&gt;" in row and "2 scores" in row
    assert "2026-11-02 10:00:01 UTC" in row
    assert "Sam Patel" in html and "learner-s001" not in html


def test_mounted_under_a_prefix_links_and_issuer_follow(cfg):
    cfg.base_url = "http://127.0.0.1:5000/sandbox"
    sandbox_app = create_sandbox_app(cfg)
    outer = DispatcherMiddleware(Response("tool", status=200), {"/sandbox": sandbox_app})
    client = Client(outer)
    html = client.get("/sandbox/").get_data(as_text=True)
    assert 'action="/sandbox/launch/start"' in html and 'href="/sandbox/gradebook"' in html
    response = client.get("/sandbox/launch/start?user=learner-1&link=rl-a1")
    assert response.status_code == 302
    assert "iss=http%3A%2F%2F127.0.0.1%3A5000%2Fsandbox" in response.headers["Location"]
    config = client.get("/sandbox/.well-known/openid-configuration").get_json()
    assert config["token_endpoint"] == "http://127.0.0.1:5000/sandbox/token"


def test_state_and_key_survive_a_restart(cfg, tmp_path, driver):
    cfg.state_path = tmp_path / "sandbox-state.json"
    cfg.key_path = tmp_path / "sandbox-key.pem"
    first = create_sandbox_app(cfg)
    first.extensions["sandbox"].add_fault("scores", "500", count=2)
    with first.extensions["sandbox"].mutate() as data:
        data["links"]["rl-a2"]["title"] = "Renamed"
    kid = first.extensions["sandbox"].keys.current.kid
    assert cfg.key_path.exists() and oct(cfg.key_path.stat().st_mode)[-3:] == "600"
    second = create_sandbox_app(cfg).extensions["sandbox"]
    assert second.keys.current.kid == kid
    state = second.snapshot()
    assert state["faults"][0]["remaining"] == 2
    assert next(link for link in state["links"] if link["id"] == "rl-a2")["title"] == "Renamed"


def test_a_damaged_state_file_starts_a_fresh_world(cfg, tmp_path):
    cfg.state_path = tmp_path / "broken.json"
    cfg.state_path.write_text("{not json")
    state = create_sandbox_app(cfg).extensions["sandbox"].snapshot()
    assert len(state["links"]) == 3


def test_sandbox_imports_nothing_of_the_tool_nor_pylti1p3():
    offenders = []
    for source in PACKAGE.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("pylti1p3") or (
                    name.startswith("lti_tool") and not name.startswith("lti_tool.sandbox")
                ):
                    offenders.append(f"{source.name}: {name}")
    assert offenders == []
    assert len(list(PACKAGE.rglob("*.py"))) >= 10


def test_config_defaults():
    cfg = SandboxConfig(base_url="http://x.test", tool_login_url="a", tool_launch_url="b",
                        tool_jwks_url="c")
    assert (cfg.client_id, cfg.deployment_id, cfg.roster_size, cfg.control_api) == (
        "sandbox-client", "sandbox-deployment-1", 120, True)
    assert cfg.state_path is None and cfg.key_path is None


def test_readme_documents_every_fault_and_variant():
    from lti_tool.sandbox import FAULTS, VARIANTS

    readme = (PACKAGE / "README.md").read_text()
    missing = [name for name in (*FAULTS, *VARIANTS) if f"| `{name}` |" not in readme]
    assert missing == []
