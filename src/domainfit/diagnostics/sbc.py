"""Simulation-based calibration (SBC) and interval coverage of a posterior.

SBC (Talts et al. 2018, arXiv:1804.06788): draw θ from the prior, data from θ, and L posterior draws
given the data; the rank of θ among the L draws is uniform on {0, …, L} if and only if the posterior
is the right one (averaged over the prior). A posterior too narrow piles the ranks at both ends, one
too wide in the middle, a biased one on one side. ``sbc_rank`` gives one case's rank from correlated
MCMC draws (thinned to L evenly spaced draws, ties broken at random), ``rank_uniformity`` the
χ² test of the ranks of many cases in equal bins, ``coverage`` the share of intervals that held the
truth with its exact binomial interval.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Float

from ..errors import DomainfitError


def sbc_rank(draws: Float[np.ndarray, " n"], truth: float, n_ranks: int, rng: np.random.Generator) -> int:
    """Rank of ``truth`` among ``n_ranks`` draws taken evenly from ``draws`` (pooled chains): the number
    of them below it, ties (e.g. a parameter at a bound) split at random. Returns an int in [0, n_ranks].

    Evenly spaced draws thin the chains' autocorrelation; ``n_ranks`` should stay below the effective
    sample size, or the ranks of a right posterior are not uniform.
    """
    draws = np.asarray(draws, float).ravel()
    if n_ranks < 1 or len(draws) < n_ranks:
        raise DomainfitError(f"SBC rank among {n_ranks} draws: the posterior has {len(draws)}")
    if not np.all(np.isfinite(draws)) or not math.isfinite(truth):
        raise DomainfitError("SBC rank: non-finite draws or truth")
    picked = draws[np.linspace(0, len(draws) - 1, n_ranks).round().astype(int)]
    below = int(np.sum(picked < truth))
    ties = int(np.sum(picked == truth))
    return below + int(rng.integers(0, ties + 1))


def rank_uniformity(ranks, n_ranks: int, bins: int | None = None) -> dict:
    """χ² test that ``ranks`` (each in [0, n_ranks]) are uniform, in ``bins`` equal bins of ranks.

    ``bins`` must divide n_ranks + 1; by default the largest divisor ≤ max(2, len(ranks) // 10) (≥ 10
    cases expected per bin). Returns the bins' counts, their expected count, the χ² statistic, its
    degrees of freedom and the p-value, and the 0.5–99.5 % binomial band of one bin's count under
    uniformity (the band of Talts et al.'s histograms).
    """
    from scipy import stats

    ranks = np.asarray(ranks, int)
    if ranks.size < 2:
        raise DomainfitError(f"rank uniformity needs at least 2 ranks, got {ranks.size}")
    if ranks.min() < 0 or ranks.max() > n_ranks:
        raise DomainfitError(f"ranks must lie in [0, {n_ranks}]")
    if bins is None:
        target = max(2, ranks.size // 10)
        divisors = [b for b in range(2, target + 1) if (n_ranks + 1) % b == 0]
        if not divisors:
            raise DomainfitError(f"no bin count ≤ {target} divides the {n_ranks + 1} possible ranks: choose n_ranks "
                                 "so that n_ranks + 1 has small divisors (e.g. 99), or give bins")
        bins = max(divisors)
    if (n_ranks + 1) % bins:
        raise DomainfitError(f"{bins} bins do not divide the {n_ranks + 1} possible ranks")
    counts = np.bincount(ranks * bins // (n_ranks + 1), minlength=bins)
    expected = ranks.size / bins
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    dof = bins - 1
    band = stats.binom.ppf([0.005, 0.995], ranks.size, 1 / bins)
    return dict(counts=counts.tolist(), expected=expected, chi2=chi2, dof=dof, p_value=float(stats.chi2.sf(chi2, dof)),
                band_99=[float(band[0]), float(band[1])], bins=bins, n=int(ranks.size))


def coverage(inside) -> dict:
    """Share of intervals that held the truth, with its exact (Clopper–Pearson) 95 % interval."""
    from scipy import stats

    inside = np.asarray(inside, bool)
    n, k = inside.size, int(inside.sum())
    if n == 0:
        raise DomainfitError("coverage of no intervals")
    low = float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return dict(n=n, covered=k, coverage=k / n, interval_95=[low, high])
