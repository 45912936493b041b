import jax
import pytest


@pytest.fixture
def x64():
    """Run a test in float64 where its tolerance needs it."""
    with jax.enable_x64(True):
        yield
