"""Why σ's posterior is wider than the CNN's own spread on the shipped example (issue 34).

`domainfit estimate example --posterior` reports `posterior_sd_over_cnn_sd` σ ≈ 1.2: the posterior on the
emulator of the CNN's readings is wider in σ than the network's calibrated spread. This study takes the
posterior apart at its mean θ̄:

- the CNN's σ reading responds to σ with slope ∂μ_σ̂/∂σ < 1 (a network trained with a Gaussian
  likelihood shrinks its estimate towards its training prior's centre), so a noise sd s in the reading
  is an sd s/slope in σ before the prior;
- s itself, the emulator's noise of the reading at θ̄ (the spread over states and instruments at one θ,
  as measured on the recorded views), against the CNN's own stated sd;
- the likelihood's other terms: V_μ, the cross-validated mean error e, the instrument term;
- the box prior σ ∈ [0.05, 0.2], which cuts the linearised likelihood.

  python -m studies.sigma_widening --json docs/figures/sigma_widening.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="example")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp

    import domainfit as df
    from domainfit.nn import emulator_path, load_default
    from domainfit.surrogate import Emulator, EmulatorLikelihood

    r = df.estimate(args.image, posterior=df.PosteriorConfig(chains=4, samples=1000, warmup=500, predictive=0), key=0)
    rep = r.report
    emu = Emulator.load(emulator_path(load_default().path))
    post = rep["posterior"]
    theta = {"D": post["D"]["mean"] * 1e-3, "sigma": post["sigma"]["mean"]}
    J = np.asarray(jax.jacfwd(lambda t: emu.predict({"D": t[0], "sigma": t[1]})[0])(
        jnp.asarray([theta["D"], theta["sigma"]], jnp.float32)), np.float64)
    obs = rep["observation"]
    lik = EmulatorLikelihood(emu, jnp.asarray(obs["statistics"], jnp.float32), area_ratio=obs.get("area_ratio", 1.0))
    _, own, shared = lik.moment_parts(theta)
    _, cov, v_mu = emu.predict(theta)
    total = np.asarray(own + shared, np.float64)
    lin = np.linalg.inv(J.T @ np.linalg.solve(total, J))
    k = list(emu.stat_names).index("cnn_sigma")
    out = dict(
        image=args.image, theta_mean=theta,
        cnn_sigma_sd=rep["parameters"]["sigma"]["sd"], posterior_sigma_sd=post["sigma"]["sd"],
        posterior_sd_over_cnn_sd=rep["posterior_sd_over_cnn_sd"],
        slope_reading_per_sigma=float(J[k, 1]),
        emulator_noise_sd_of_reading=float(np.sqrt(cov[k, k])),
        noise_over_cnn_sd=float(np.sqrt(cov[k, k]) / rep["parameters"]["sigma"]["sd"]),
        v_mu_sd=float(np.sqrt(v_mu[k])), own_sd=float(np.sqrt(own[k, k])), shared_sd=float(np.sqrt(shared[k, k])),
        total_sd_over_noise_sd=float(np.sqrt(total[k, k] / cov[k, k])),
        linearised_likelihood_sigma_sd=float(np.sqrt(lin[1, 1])),
        box=[0.05, 0.2],
    )
    from studies._summary import print_and_write

    return print_and_write(out, args.json)


if __name__ == "__main__":
    main()
