# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The Ta-wedge trend: one image per position, then one joint model
#
# Synthetic data (`examples/ta_wedge/`, see `docs/examples.md`): a Ta(d)/Pt/Co/MgO wedge with D rising
# and σ falling along d, imaged by a scanning probe 40 nm above the film. We estimate each image on its
# own, then compare "D constant", "D linear" and "D free" (and the same for σ) by evidence over the
# whole series. With `DOMAINFIT_TINY=1` (the tests) it uses three positions and short chains.

# %%
import csv
import os
from pathlib import Path

import jax
import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt
import numpy as np

import domainfit as df
from domainfit.observations import series

TINY = os.environ.get("DOMAINFIT_TINY") == "1"
# the repository's examples/ folder (this notebook lives in notebooks/ beside it)
DATA = Path(os.environ.get("DOMAINFIT_EXAMPLES", "../examples")) / "ta_wedge" / "data"
truth = [r for r in csv.DictReader(open(DATA / "truth.csv")) if r["series"] == "wedge"]
if TINY:
    truth = truth[::3]  # positions 0, 3, 6
config = df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if TINY else df.PosteriorConfig()

# %% [markdown]
# ## Each image alone

# %%
results = [df.estimate(DATA / t["file"], posterior=config, key=i, instrument="probe", lift="40nm", resolution="30nm")
           for i, t in enumerate(truth)]
d = np.array([float(t["ta_nm"]) for t in truth])
for t, r in zip(truth, results):
    q = r.report["posterior"]["D"]
    print(f"Ta {t['ta_nm']} nm: D {q['mean']:.3f} [{q['hdi_low']:.3f}, {q['hdi_high']:.3f}] mJ/m² "
          f"(true {float(t['D_mJ_m2']):.3f})")

# %% [markdown]
# ## One joint model over the series
# The likelihood of every image is kept (`r.posterior.problem.likelihood`); `observations.series` ties the
# images' parameters together by a trend and compares trends by evidence. σ is always allowed to vary:
# the D–σ ridge means that a σ trend forced to be constant shows up as a spurious D trend.

# %%
liks = [r.posterior.problem.likelihood for r in results]
box = {"D": (0.1e-3, 1.0e-3), "sigma": (0.05, 0.2)}
models = {"D constant": {"D": "constant", "sigma": "linear"}, "D linear": {"D": "linear", "sigma": "linear"}}
options = dict(n_particles=200, n_runs=2, n_moves=5) if TINY else {}
cmp = series.compare_trends(liks, d, box, models, key=jax.random.key(0), **options)
for name, bf in cmp["bayes_factors"].items():
    print(f"{cmp['best']} vs {name}: {bf['interpretation']}")

# %%
trends = {"D": "linear", "sigma": "linear"}
means = [{"D": r.report["posterior"]["D"]["mean"] * 1e-3, "sigma": r.report["posterior"]["sigma"]["mean"]}
         for r in results]
problem = series.series_problem(liks, d, box, trends)
nuts = dict(num_chains=2, num_warmup=60, num_samples=100) if TINY else {}
_, idata = series.series_posterior(problem, series.seed_from_estimates(means, d, box, trends), key=1,
                                   progress=False, **nuts)
slope = np.asarray(idata.posterior["D_slope"]).ravel() * 1e3
lo, hi = series.hdi(slope, 0.9)
print(f"D slope {slope.mean():+.3f} mJ/m² per nm, 90 % HDI [{lo:+.3f}, {hi:+.3f}] (true +0.250)")

# %% [markdown]
# ## A second observation per position: the DMI field
# The images cannot separate D from σ (the ridge). The conventional in-plane-field measurement of each
# position, μ0H_DMI = D/(Ms Δ) (reference.csv: read with ±3 mT, Δ known to ±7.5 %), depends on D and
# not on σ. Each position's likelihood becomes its image's plus this measurement
# (`observations.JointLikelihood`), and the same comparison runs again.

# %%
from domainfit.observations import JointLikelihood, Measurement

ref = {(r["series"], r["position"]): r for r in csv.DictReader(open(DATA / "reference.csv"))}
joint = [JointLikelihood([lik], [Measurement("dmi_field", float(ref[("wedge", t["position"])]["mu0_H_DMI_mT"]) * 1e-3,
                                             3e-3, 0.075)]) for lik, t in zip(liks, truth)]
cmp2 = series.compare_trends(joint, d, box, models, key=jax.random.key(2), **options)
for name, bf in cmp2["bayes_factors"].items():
    print(f"with the DMI field: {cmp2['best']} vs {name}: {bf['interpretation']}")

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
for t, r in zip(truth, results):
    q = r.report["posterior"]["D"]
    ax.errorbar(float(t["ta_nm"]), q["mean"], yerr=[[q["mean"] - q["hdi_low"]], [q["hdi_high"] - q["mean"]]],
                fmt="o", color="C0", capsize=3)
ax.plot(d, [float(t["D_mJ_m2"]) for t in truth], "k--", label="synthetic truth")
ax.set_xlabel("Ta thickness d [nm]")
ax.set_ylabel("D [mJ/m²]")
ax.legend()
plt.show()
