"""A small LTI 1.3 Advantage platform (an LMS stand-in) for trying and testing the tool.

Written from the 1EdTech specifications, independent of the tool's code: it imports nothing
from ``lti_tool`` outside this package and does not use PyLTI1p3.
"""

from __future__ import annotations

from .app import create_sandbox_app
from .config import SandboxConfig
from .launch import FAULTS, VARIANTS
from .state import Sandbox

__all__ = ["FAULTS", "VARIANTS", "Sandbox", "SandboxConfig", "create_sandbox_app"]
