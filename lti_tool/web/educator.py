"""educator views (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("educator", __name__)
