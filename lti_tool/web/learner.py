"""learner views (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("learner", __name__)
