"""Unit tests' shared fixtures."""

import pytest

from tasks import ui


@pytest.fixture(autouse=True)
def _registered_secrets_stay_in_their_test():
    """ui's registry of secrets is process-wide: what a test registers is forgotten after it, so no test passes or
    fails by the order it runs in."""
    saved = set(ui._secrets)
    yield
    ui._secrets.clear()
    ui._secrets.update(saved)
    ui._pattern = None
