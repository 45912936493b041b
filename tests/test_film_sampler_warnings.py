"""The film path's sampler diagnostics reach the report: R-hat and divergent transitions over their limits."""

from domainfit.forward.posterior import DIVERGENCE_LIMIT, sampler_warnings


def test_divergences_over_one_percent_of_the_draws_are_reported_with_their_count():
    # the Ta-wedge real stack read with exact constants: 346 divergent of 4,000 draws passed unreported
    (w,) = sampler_warnings({"r_hat_max": 1.01, "divergences": 346}, 4000)
    assert "346 of 4000" in w and "8.6%" in w and "divergent" in w
    assert sampler_warnings({"r_hat_max": 1.01, "divergences": int(DIVERGENCE_LIMIT * 4000)}, 4000) == []
    assert sampler_warnings({"r_hat_max": 1.01, "divergences": 0}, 4000) == []


def test_r_hat_over_its_limit_is_reported_alone_or_beside_the_divergences():
    (w,) = sampler_warnings({"r_hat_max": 1.2, "divergences": 0}, 2000)
    assert "R-hat 1.200" in w
    assert len(sampler_warnings({"r_hat_max": 1.2, "divergences": 100}, 2000)) == 2
