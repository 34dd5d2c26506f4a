"""The sandbox LMS's settings: where it lives and which tool it launches."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class SandboxConfig:
    """Settings of one sandbox platform.

    ``base_url`` is the sandbox's public URL and its issuer; it may carry a path when the
    sandbox is mounted under a prefix. The ``tool_*`` URLs describe the default client
    (``client_id``), the tool the sandbox launches unless a registered client is named.
    Fields are read at request time, so a test may set ``base_url`` after binding a port.
    """

    base_url: str
    tool_login_url: str
    tool_launch_url: str
    tool_jwks_url: str
    client_id: str = "sandbox-client"
    deployment_id: str = "sandbox-deployment-1"
    state_path: str | os.PathLike[str] | None = None
    key_path: str | os.PathLike[str] | None = None
    roster_size: int = 120
    control_api: bool = True
    #: Default page size of NRPS and line item containers (Canvas pages NRPS by 50).
    page_size: int = 50
    access_token_ttl: int = 3600
    id_token_ttl: int = 300
    #: Seconds of clock skew accepted on JWTs the tool signs.
    leeway: int = 5
    #: Timeout of the sandbox's own calls to the tool (key set fetches).
    http_timeout: float = 5.0

    @property
    def issuer(self) -> str:
        """The platform issuer: ``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")

    def url(self, path: str) -> str:
        """An absolute public URL of the sandbox for ``path`` (which starts with ``/``)."""
        return self.issuer + path

    @property
    def auth_login_url(self) -> str:
        """OIDC authorization endpoint a tool registers as the platform's login URL."""
        return self.url("/auth")

    @property
    def token_url(self) -> str:
        """OAuth 2 token endpoint for service access tokens."""
        return self.url("/token")

    @property
    def jwks_url(self) -> str:
        """The platform's public key set."""
        return self.url("/jwks")

    @property
    def deep_link_return_url(self) -> str:
        """Where a tool posts its LtiDeepLinkingResponse."""
        return self.url("/deep-link/return")

    @property
    def openid_configuration_url(self) -> str:
        """The platform's OpenID configuration (dynamic registration)."""
        return self.url("/.well-known/openid-configuration")

    @property
    def registration_url(self) -> str:
        """The dynamic registration endpoint."""
        return self.url("/register")
