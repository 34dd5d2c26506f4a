"""Run the sandbox LMS alone: ``python -m lti_tool.sandbox --tool-url http://localhost:5000``.

The tool's own CLI (``lti-tool sandbox``, ``make run``) mounts it beside the tool instead.
"""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from .app import create_sandbox_app
from .config import SandboxConfig


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the sandbox with werkzeug (threaded)."""
    parser = argparse.ArgumentParser(prog="python -m lti_tool.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--tool-url", default="http://localhost:5000",
                        help="the tool's base URL; /lti/login, /lti/launch, /lti/jwks follow")
    parser.add_argument("--client-id", default="sandbox-client")
    parser.add_argument("--deployment-id", default="sandbox-deployment-1")
    parser.add_argument("--state", default=None, help="JSON file that keeps the state")
    parser.add_argument("--key", default=None, help="PEM file of the platform key")
    args = parser.parse_args(argv)
    tool = args.tool_url.rstrip("/")
    config = SandboxConfig(
        base_url=f"http://{args.host}:{args.port}",
        tool_login_url=tool + "/lti/login",
        tool_launch_url=tool + "/lti/launch",
        tool_jwks_url=tool + "/lti/jwks",
        client_id=args.client_id,
        deployment_id=args.deployment_id,
        state_path=args.state,
        key_path=args.key,
    )
    print(f"Sandbox LMS at {config.issuer}/ (issuer {config.issuer}, client {config.client_id})")
    run_simple(args.host, args.port, create_sandbox_app(config), threaded=True)


if __name__ == "__main__":
    main()
