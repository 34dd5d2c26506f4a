"""Fixtures for the domain's unit tests (no I/O beyond reading content files)."""

from __future__ import annotations

import pytest
from assessment_builders import CONTENT, SYNTHETIC, simple_bank

from lti_tool.assessments import Framework, QuestionBank, load_bank, load_framework


@pytest.fixture(scope="session")
def ksf() -> Framework:
    """The shipped framework (content/framework.json)."""
    return load_framework(CONTENT / "framework.json")


@pytest.fixture(scope="session")
def ksf_bank(ksf: Framework) -> QuestionBank:
    """A stand-in bank for the shipped framework, built here so the rule tests do not
    depend on the wording or keys of the real bank: see :func:`simple_bank`."""
    return simple_bank(ksf)


@pytest.fixture(scope="session")
def synthetic() -> Framework:
    """Two dimensions of three levels, two indicators a level."""
    return load_framework(SYNTHETIC / "framework.json")


@pytest.fixture(scope="session")
def synthetic_bank(synthetic: Framework) -> QuestionBank:
    """The fixture bank for the synthetic framework, one of each format."""
    return load_bank(SYNTHETIC / "bank.json", synthetic)
