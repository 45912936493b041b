"""A long-lived process must not reach the kernel's limit on memory mappings (domainfit._compiled)."""

import jax
import jax.numpy as jnp
import pytest

from domainfit import _compiled


def _compiled_once():
    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
    f(jnp.ones(5)).block_until_ready()
    assert f._cache_size() == 1
    return f


@pytest.mark.skipif(_compiled.mapping_count() is None, reason="no /proc mapping count on this system")
def test_compiled_programs_are_released_only_when_the_mappings_crowd():
    used, limit = _compiled.mapping_count()
    assert 0 < used < limit
    f = _compiled_once()
    assert not _compiled.release_if_crowded(fraction=1.0) and f._cache_size() == 1
    assert _compiled.release_if_crowded(fraction=0.0) and f._cache_size() == 0


@pytest.mark.skipif(_compiled.mapping_count() is None, reason="no /proc mapping count on this system")
def test_estimate_and_compare_release_them_before_they_crash_the_process(monkeypatch):
    # Each posterior run compiled ~390 programs that JAX kept for good: ~55 runs in one process
    # passed vm.max_map_count and LLVM's loader segfaulted (the test suite died so after ~285 tests).
    import domainfit as df
    from domainfit.workflows import compare as comparison

    monkeypatch.setattr(_compiled, "FRACTION", 0.0)
    f = _compiled_once()
    df.estimate("example", single_view=True)
    assert f._cache_size() == 0
    f = _compiled_once()
    with pytest.raises(df.DomainfitError):
        comparison.compare("example", models={"a": "default"})  # refused after the release (one model)
    assert f._cache_size() == 0
