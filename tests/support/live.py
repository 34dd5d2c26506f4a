"""A live stack for functional tests: the tool on http://localhost:PORT and the sandbox LMS
on http://127.0.0.1:PORT2, two real HTTP servers on different sites, as real LMSs are."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.serving import make_server

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_DEPLOYMENT_ID = "sandbox-deployment-1"


class _Late:
    """A WSGI app whose target is set after the server (and so its port) exists."""

    def __init__(self) -> None:
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class ServerThread:
    """A threaded werkzeug server on an ephemeral port."""

    def __init__(self, host: str) -> None:
        self.target = _Late()
        self.server = make_server(host, 0, self.target, threaded=True)
        self.port = self.server.server_port
        # A short poll interval lets stop() return at once instead of after 0.5 s.
        self.thread = threading.Thread(
            target=lambda: self.server.serve_forever(poll_interval=0.05), daemon=True
        )

    def start(self, app) -> None:
        self.target.app = app
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    tool_url: str
    lms_url: str
    app: object
    sandbox_app: object
    runtime: object
    servers: list = field(default_factory=list)

    @property
    def sandbox(self):
        """The sandbox's state object (in-process access for assertions)."""
        return self.sandbox_app.extensions["sandbox"]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_stack(backend, tool_private_key, *, register: bool = True, sandbox_options=None,
                **overrides) -> Stack:
    """Start the tool and the sandbox LMS, with the sandbox registered with the tool."""
    from lti_tool.sandbox import SandboxConfig, create_sandbox_app
    from lti_tool.services.platforms import PlatformInput, upsert_platform
    from tests.conftest import build_app

    tool_server = ServerThread("localhost")
    lms_server = ServerThread("127.0.0.1")
    tool_url = f"http://localhost:{tool_server.port}"
    lms_url = f"http://127.0.0.1:{lms_server.port}"
    overrides.setdefault("allow_private_registration_urls", True)
    app = build_app(backend, tool_private_key, base_url=tool_url, **overrides)
    runtime = app.extensions["lti_tool"]
    config = SandboxConfig(
        base_url=lms_url,
        tool_login_url=f"{tool_url}/lti/login",
        tool_launch_url=f"{tool_url}/lti/launch",
        tool_jwks_url=f"{tool_url}/lti/jwks",
        client_id=SANDBOX_CLIENT_ID,
        deployment_id=SANDBOX_DEPLOYMENT_ID,
        **(sandbox_options or {}),
    )
    sandbox_app = create_sandbox_app(config)
    if register:
        with runtime.session() as db:
            upsert_platform(db, PlatformInput(
                name="Sandbox LMS", issuer=config.issuer, client_id=SANDBOX_CLIENT_ID,
                auth_login_url=config.auth_login_url, auth_token_url=config.token_url,
                key_set_url=config.jwks_url, deployment_ids=[SANDBOX_DEPLOYMENT_ID],
            ))
    tool_server.start(app)
    lms_server.start(sandbox_app)
    return Stack(tool_url, lms_url, app, sandbox_app, runtime, [tool_server, lms_server])
