# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A first estimate: from one domain image to D and σ with credible intervals
#
# This notebook is kept as a percent script (open it in Jupyter with jupytext, or run it as Python).
# The tests run it with `DOMAINFIT_TINY=1` (short chains); unset, it runs the real budget.
#
# We read the shipped example image (a simulated 2 µm maze of the co-pt film), look at it and its
# statistics, ask the shipped CNN for a first estimate, then refine it with MAP and NUTS on the
# emulator likelihood, and read the diagnostics before the numbers.

# %%
import os

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import arviz as az
import matplotlib.pyplot as plt

import domainfit as df

TINY = os.environ.get("DOMAINFIT_TINY") == "1"
config = df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if TINY else df.PosteriorConfig()

# %% [markdown]
# ## The image and what is measurable in it
# `inspect_image` gives the statistics in physical units (domain period, wall density, ...) and a figure
# (written to a file; open it beside the notebook).

# %%
ins = df.inspect_image("example")
print(ins)
ins.figure("example_inspect.png")   # the image, its power spectrum with the period peak, the walls

# %% [markdown]
# ## The CNN's first estimate (about a second)

# %%
fast = df.estimate("example")
print(fast)

# %% [markdown]
# ## The posterior
# The CNN estimate seeds a MAP and NUTS. Read the reasons first: if the result is not trustworthy
# they say why (sampler diagnostics, an image unlike the training data, a failed predictive check).

# %%
r = df.estimate("example", posterior=config, key=0)
print("trustworthy:", r.trustworthy, r.reasons)
print(r)

# %%
az.summary(r.idata, var_names=["D", "sigma"], hdi_prob=0.9)

# %%
fig = r.plot()   # marginals and the joint D–σ density with the HDIs: note the D–σ correlation
plt.show()
