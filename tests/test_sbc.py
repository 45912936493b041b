"""SBC ranks, their uniformity test and interval coverage, against a posterior known in closed form.

Conjugate normal model: θ ~ N(0, 1), y ~ N(θ, 1) ⇒ θ | y ~ N(y/2, 1/2). Exact posterior draws give
uniform ranks and 90 % central intervals that hold θ in 90 % of cases; a posterior half as wide, or
shifted by half its width, must be caught.
"""

import numpy as np
import pytest
from scipy import stats

from domainfit.errors import DomainfitError
from domainfit.diagnostics import coverage, rank_uniformity, sbc_rank

N_CASES, N_RANKS, N_DRAWS = 400, 99, 500


def _study(width: float = 1.0, shift: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    ranks, inside = [], []
    for _ in range(N_CASES):
        theta = rng.normal()
        y = theta + rng.normal()
        sd = np.sqrt(0.5) * width
        draws = y / 2 + shift * sd + sd * rng.normal(size=N_DRAWS)
        ranks.append(sbc_rank(draws, theta, N_RANKS, rng))
        lo, hi = np.quantile(draws, [0.05, 0.95])
        inside.append(lo <= theta <= hi)
    return rank_uniformity(ranks, N_RANKS), coverage(inside)


def test_the_exact_posterior_passes_sbc_and_covers_at_its_level():
    uniform = held = 0
    for seed in range(5):
        u, c = _study(seed=seed)
        uniform += u["p_value"] > 0.01  # fails with probability 0.01 per study
        held += c["interval_95"][0] <= 0.9 <= c["interval_95"][1]  # fails with probability 0.05
        assert abs(c["coverage"] - 0.9) < 0.06
    assert uniform >= 4 and held >= 4
    assert u["bins"] == 25 and u["n"] == N_CASES and sum(u["counts"]) == N_CASES


@pytest.mark.parametrize("width, shift", [(0.5, 0.0), (2.0, 0.0), (1.0, 0.5)])
def test_a_wrong_posterior_is_caught(width, shift):
    u, c = _study(width, shift)
    assert u["p_value"] < 1e-4
    if width < 1:  # too narrow: ranks at both ends, too few intervals hold θ
        assert u["counts"][0] > u["band_99"][1] and u["counts"][-1] > u["band_99"][1]
        assert c["interval_95"][1] < 0.85
    if width > 1:
        assert c["interval_95"][0] > 0.95


def test_ranks_of_a_bound_parameter_are_split_at_random():
    rng = np.random.default_rng(1)
    ranks = [sbc_rank(np.zeros(200), 0.0, 9, rng) for _ in range(2000)]  # every draw ties with the truth
    counts = np.bincount(ranks, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_coverage_interval_is_clopper_pearson():
    c = coverage([True] * 90 + [False] * 10)
    assert c["coverage"] == 0.9
    ci = stats.binomtest(90, 100).proportion_ci(0.95, method="exact")
    assert np.allclose(c["interval_95"], [ci.low, ci.high])


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(DomainfitError, match="has 5"):
        sbc_rank(np.zeros(5), 0.0, 9, rng)
    with pytest.raises(DomainfitError, match="non-finite"):
        sbc_rank(np.array([np.nan] * 20), 0.0, 9, rng)
    with pytest.raises(DomainfitError, match=r"\[0, 9\]"):
        rank_uniformity([0, 10], 9)
    with pytest.raises(DomainfitError, match="divide"):
        rank_uniformity(list(range(10)) * 10, 9, bins=3)


def test_the_sbc_benchmark_summarises_and_draws_known_ranks(tmp_path):
    """studies/sbc.py's summary and figure from cases of known ranks: uniform ranks pass, ranks
    piled at the ends (an over-confident posterior) fail, coverage counts the intervals that held."""
    from studies import sbc as bench

    rng = np.random.default_rng(3)
    cases = []
    for i in range(200):
        t = rng.uniform(0.1, 1.0)
        good, bad = int(rng.integers(0, 100)), int(rng.choice([0, 99]))
        cases.append(dict(index=i, walls=True, parameters={
            "D": dict(unit="mJ/m^2", truth=t, median=t, hdi_low=t - 0.1, hdi_high=t + 0.1, inside=i % 10 != 0,
                      r_hat=1.0, rank=good),
            "sigma": dict(unit="1", truth=0.1, median=0.2, hdi_low=0.15, hdi_high=0.25, inside=False, r_hat=1.01,
                          rank=bad)}))
    s = bench.summarise(cases, 99)
    assert s["D"]["ranks"]["p_value"] > 0.01 and s["D"]["hdi_coverage"]["coverage"] == 0.9
    assert s["sigma"]["ranks"]["p_value"] < 1e-10 and s["sigma"]["hdi_coverage"]["coverage"] == 0.0
    assert abs(s["sigma"]["rmse"] - 0.1) < 1e-12 and s["sigma"]["r_hat_max"] == 1.01
    bench.plot(cases, s, 99, "test", tmp_path / "sbc.png", 0.9)
    assert (tmp_path / "sbc.png").stat().st_size > 10_000


def test_an_interrupted_sbc_run_keeps_the_earlier_cases_it_had_not_reached():
    """The benchmark resumes from its JSON; a run stopped part-way wrote only the cases up to where it
    was and lost the earlier run's cases of rows still ahead (seen on 3 Dec: 56 low-ms cases → 30)."""
    from studies import sbc as bench

    done = {i: dict(index=i, old=True) for i in (1, 5, 9)}
    cases = [done[1], dict(index=3, old=False)]  # row 3 is new, rows 5 and 9 not reached yet
    saved = bench.kept(cases, done)
    assert sorted(c["index"] for c in saved) == [1, 3, 5, 9]
    assert len(saved) == 4
