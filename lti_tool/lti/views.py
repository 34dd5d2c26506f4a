"""LTI endpoints (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("lti", __name__)
