"""Shared fixtures: one analyzer per session."""

import pytest


@pytest.fixture(scope="session")
def analyzer():
    from facelens import Analyzer

    return Analyzer("all")


@pytest.fixture(scope="session")
def fast_analyzer():
    from facelens import Analyzer

    return Analyzer("landmarks")
