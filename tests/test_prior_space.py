"""The normalised space of a prior (``inference.PriorModel``) is the same whatever ran before it."""

import jax
import jax.numpy as jnp
import numpy as np

from domainfit import inference as inf


def test_a_prior_space_set_up_in_64_bit_mode_is_not_reused_in_32_bit_mode():
    """The normalised space of a prior is cached per specs. A space first set up under jax_enable_x64
    (a test's ``x64`` fixture) was reused by later 32-bit runs: the same ``estimate`` call then gave
    another posterior mean (0.8134 against 0.7938 on the example) depending on what ran before it."""
    specs = {"D": inf.Prior.uniform("D", 0.1234e-3, 0.9876e-3), "sigma": inf.Prior.uniform("sigma", 0.0321, 0.1987)}
    with jax.enable_x64(True):
        wide = inf.PriorModel(specs)
    assert wide.center.dtype == jnp.float64
    cached = inf.PriorModel(specs)  # 32-bit, after the 64-bit one was cached
    fresh = inf.PriorModel(specs, key=jax.random.key(0))  # the same draws, never cached
    assert cached.center.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(cached.center), np.asarray(fresh.center))
    np.testing.assert_array_equal(np.asarray(cached.scale), np.asarray(fresh.scale))
    assert cached != wide and cached == inf.PriorModel(specs)
