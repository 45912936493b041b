# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Custom priors and model comparison
#
# A prior from elsewhere (a literature value of D, or a numpyro function tying σ to D) changes the
# posterior in the way Bayes' rule says; `domainfit.compare` weighs whole models by their evidence.
# `DOMAINFIT_TINY=1` (the tests) uses short chains and few particles.

# %%
import os

import numpyro
import numpyro.distributions as dist

import domainfit as df
from domainfit import inference as inf

TINY = os.environ.get("DOMAINFIT_TINY") == "1"
config = df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if TINY else df.PosteriorConfig()

# %% [markdown]
# ## A literature value for D
# `default_priors("co-pt")` is the training box; replace the prior of D by a truncated normal.

# %%
priors = inf.default_priors("co-pt")
priors["D"] = inf.Prior("D", dist.TruncatedNormal(0.6e-3, 0.1e-3, low=0.1e-3, high=1.0e-3))
flat = df.estimate("example", posterior=config, key=0)
informed = df.estimate("example", posterior=config, priors=priors, key=0)
for name, r in (("box prior", flat), ("D ~ N(0.6, 0.1)", informed)):
    q = r.report["posterior"]["D"]
    print(f"{name:18s} D {q['mean']:.3f} ± {q['sd']:.3f} mJ/m², 90 % HDI [{q['hdi_low']:.3f}, {q['hdi_high']:.3f}]")

# %% [markdown]
# ## A correlated prior as a numpyro function

# %%
def my_prior():
    D = numpyro.sample("D", dist.Uniform(0.1e-3, 1.0e-3))
    sigma = numpyro.sample("sigma", dist.TruncatedNormal(0.2 - 100 * D, 0.03, low=0.05, high=0.2))
    return {"D": D, "sigma": sigma, "Ms": 1.5e6, "Ku": 1.6e6, "A": 31e-12}


r = df.estimate("example", posterior=config, priors=my_prior, key=0)
print(r)

# %% [markdown]
# ## Which model explains the image: σ free, or σ fixed?

# %%
c = df.compare("example", models={"σ free": "default", "σ = 0.10": "default", "σ = 0.18": "default"},
               fix={"σ = 0.10": {"sigma": 0.10}, "σ = 0.18": {"sigma": 0.18}},
               particles=200 if TINY else 1000, runs=2 if TINY else 4)
print(c)
