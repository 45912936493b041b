"""NUTS chains start dispersed (issue 34): with every chain beside the MAP, R-hat could not see a second
mode; with chains from the prior it does, and on a one-mode posterior nothing changes."""

import jax
import jax.numpy as jnp
import numpy as np
import arviz as az

from domainfit import inference as inf

MODES = (0.25e-3, 0.85e-3)  # every prior draw lies nearer its own mode than the barrier (0.55)
WIDTH = 0.02e-3


def bimodal():
    """D ~ U(0.1, 1.0) mJ/m², a likelihood with two equal, well separated modes (a known posterior)."""
    def loglik(theta):
        d = theta["D"]
        return jnp.logaddexp(*[-0.5 * ((d - m) / WIDTH) ** 2 for m in MODES])

    return inf.Problem([inf.Prior.uniform("D", 0.1e-3, 1.0e-3)], loglik)


def chains_in_modes(idata):
    d = np.asarray(idata.posterior["D"])  # [chains, draws]
    return [int(np.argmin([abs(np.median(c) - m) for m in MODES])) for c in d]


def test_dispersed_starts_let_r_hat_see_a_second_mode():
    # Over 5 seeds: from the MAP every chain stays in its mode and R-hat sees nothing (< 1.05) 5 times of 5;
    # dispersed, some chain finds the other mode and R-hat fails (> 1.5) unless all 3 prior draws fall in
    # the MAP's basin (probability 1/8 per seed).
    problem = bimodal()
    result = inf.find_map(problem, {"D": 0.27e-3})
    assert abs(result.theta["D"] - MODES[0]) < 0.01e-3
    seen = []
    for seed in range(5):
        kw = dict(key=jax.random.key(seed), num_chains=4, num_warmup=200, num_samples=300, progress=False)
        near = inf.run_nuts(problem, result, starts="map", **kw)
        assert set(chains_in_modes(near)) == {0} and float(az.rhat(near)["D"]) < 1.05
        spread = inf.run_nuts(problem, result, **kw)  # the default: dispersed
        seen.append(set(chains_in_modes(spread)) == {0, 1} and float(az.rhat(spread)["D"]) > 1.5)
    assert sum(seen) >= 3, seen


def test_dispersed_starts_keep_a_one_mode_posterior():
    problem = inf.Problem([inf.Prior.uniform("D", 0.1e-3, 1.0e-3)],
                          lambda theta: -0.5 * ((theta["D"] - 0.5e-3) / WIDTH) ** 2)
    result = inf.find_map(problem, {"D": 0.45e-3})
    idata = inf.run_nuts(problem, result, key=jax.random.key(0), num_chains=4, num_warmup=200, num_samples=400,
                         progress=False)
    d = np.asarray(idata.posterior["D"]).ravel()
    assert float(az.rhat(idata)["D"]) < 1.01
    assert abs(d.mean() - 0.5e-3) < 0.1 * WIDTH and abs(d.std() / WIDTH - 1) < 0.1
