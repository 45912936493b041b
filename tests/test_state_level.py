"""Several views of one state: the emulator's cross-validation holds out whole states, V_μ counts states,
and only the state's share of the noise averages over a larger field of view (issue 34).

The truth is the generating model: s = f(θ) + u_state + e_view, u ~ N(0, σ_u²) shared by the m views of a
state (its relaxation), e ~ N(0, σ_e²) per view (instrument draw, reading). An image n times the
training area averages n states' worth of u but keeps its own e: Var = σ_u²/n + σ_e².
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit import surrogate
from domainfit.inference import with_extra_errors
from domainfit.surrogate.fitting import groups_of, state_level
from domainfit.surrogate.likelihood import area_scaled

SU, SE = 0.08, 0.04  # state and view sd: ρ = 0.8
M = 4  # views per state


def _f(d):
    return 0.3 + 0.5 * d - 0.4 * d**2


def _views(rng, states: int):
    d = rng.uniform(-1.0, 1.0, states)
    u = rng.normal(0.0, SU, states)
    theta = np.repeat(d, M)
    s = _f(theta) + np.repeat(u, M) + rng.normal(0.0, SE, states * M)
    return theta, s[:, None]


def _fit(theta, s, **kw):
    return surrogate.fit_emulator(theta[:, None], s, names=("D",), area=1e-12, degree=2, degree_var=0,
                                  box=([-1.0], [1.0]), **kw)


def test_groups_are_the_views_sharing_theta():
    x = np.array([[0.1, 0.2], [0.3, 0.4], [0.1, 0.2], [0.3, 0.4], [0.5, 0.5]])
    g = groups_of(x)
    assert g[0] == g[2] and g[1] == g[3] and len(set(g.tolist())) == 3


def test_state_level_share_and_design_effect_match_the_generating_model():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(400), M)
    z = (np.repeat(rng.normal(0, SU, 400), M) + rng.normal(0, SE, 1600))[:, None] / np.hypot(SU, SE)
    out = state_level(z, groups)
    rho = SU**2 / (SU**2 + SE**2)
    assert out["between_state_share"][0] == pytest.approx(rho, abs=0.04)
    assert out["mean_var_factor"][0] == pytest.approx(1 + (M - 1) * rho, rel=0.06)
    # one view per state: no grouping, nothing inflated
    assert state_level(z, np.arange(1600))["mean_var_factor"] == [1.0]


def test_v_mu_counts_states_not_views():
    """The fitted mean's actual error at a new θ over 150 independent training sets against the V_μ the
    emulator states: their ratio is 1 with the design effect (it was 1 + (m − 1)ρ ≈ 3.4 without)."""
    rng = np.random.default_rng(1)
    d_new = np.array([-0.8, 0.0, 0.6])
    ratios = []
    for _ in range(150):
        theta, s = _views(rng, 40)
        emu = _fit(theta, s, folds=1)
        for d in d_new:
            mean, _, v_mu = emu.predict({"D": d})
            ratios.append((float(mean[0]) - _f(d)) ** 2 / float(v_mu[0]))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.25)


def test_cross_validation_holds_out_states():
    """Held-out states: the CV z of a correct model is ~1 and the report says states were held out; the
    per-view folds of before put a held-out view's three twins in the training folds."""
    rng = np.random.default_rng(2)
    theta, s = _views(rng, 120)
    rep = _fit(theta, s, folds=5).error_report
    assert rep["held_out"] == "states"
    assert rep["states"] == 120 and rep["views_per_state"] == pytest.approx(M)
    assert rep["z_rms"][0] == pytest.approx(1.0, abs=0.1)
    assert rep["coverage_90"] == pytest.approx(0.9, abs=0.04)


def test_larger_image_keeps_the_views_share_as_a_floor():
    """An image n = 16 training areas: its statistic's variance is σ_u²/16 + σ_e² (the view's share is its
    own at any size); scaling the whole training variance by 1/16 would claim 4× too small a variance."""
    rng = np.random.default_rng(3)
    theta, s = _views(rng, 300)
    emu = _fit(theta, s, folds=1)
    n = 16
    lik = surrogate.EmulatorLikelihood(emu, jnp.asarray([0.3]), area_ratio=1.0 / n, model_error=False)
    _, own, _ = lik.moment_parts({"D": 0.0})
    assert float(own[0, 0]) == pytest.approx(SU**2 / n + SE**2, rel=0.25)
    # and a smaller image (r = 4): both shares grow
    small = surrogate.EmulatorLikelihood(emu, jnp.asarray([0.3]), area_ratio=4.0, model_error=False)
    assert float(small.moment_parts({"D": 0.0})[1][0, 0]) == pytest.approx(4 * (SU**2 + SE**2), rel=0.25)


def test_area_scaled_without_a_share_scales_everything():
    cov = jnp.asarray([[4.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(area_scaled(cov, 0.5, None), np.asarray(cov) * 0.5)
    out = np.asarray(area_scaled(cov, 0.25, (1.0, 0.0)))
    np.testing.assert_allclose(np.diag(out), [1.0, 2.0])  # state share scales, the view's is floored
    np.testing.assert_allclose(out[0, 1], 1.0 * np.sqrt(0.25 * 1.0))
    assert jax.jit(lambda r: area_scaled(cov, r, (0.5, 0.5)))(0.5).shape == (2, 2)


def test_the_cnns_spread_beyond_the_calibrated_field_keeps_the_readings_share():
    """The example tiled 2×2 (four times the largest calibrated field, four identical tiles): its CNN spread
    is the single image's × √(ρ/4 + 1 − ρ) — only the state's share averages — where it was × ½; with no
    measured share (ρ = 0) it stays the single image's."""
    import copy

    from domainfit.nn import load_default
    from domainfit.nn.estimate import reading_of
    from domainfit.workflows.inputs import read_image

    loaded = load_default()
    img = read_image("example", flatten=loaded.flatten)
    data, px = np.asarray(img.data), img.pixel_size
    assert loaded.calibrated_field_of_view == pytest.approx(data.shape[0] * px, rel=0.01)
    for rho in (0.0, 0.3):
        model = copy.copy(loaded)
        model.meta = copy.deepcopy(loaded.meta)
        model.meta["spread_calibration"]["between_state_share"] = {t: rho for t in loaded.targets}
        one, four = reading_of(model, data, px), reading_of(model, np.tile(data, (2, 2)), px)
        assert four.n_eff == pytest.approx(4 * one.n_eff, rel=0.01)
        k = [loaded.targets.index(t) for t in ("D", "sigma")]
        np.testing.assert_allclose(four.sd[k] / one.sd[k], np.sqrt(rho / 4 + 1 - rho), rtol=0.02)


def test_emulator_variants_vary_the_mean_by_v_mu():
    """The variants ``compare`` draws for the emulator's share of a Bayes factor's error: their mean at the
    reference θ scatters by √V_μ(θ) (with the design effect), and far from it by √V_μ there too."""
    from domainfit.workflows.emulator_error import emulator_variants

    rng = np.random.default_rng(5)
    theta, s = _views(rng, 60)
    emu = _fit(theta, s, folds=1)
    variants = emulator_variants(emu, {"D": 0.2}, 400, np.random.default_rng(0))
    for d in (0.2, -0.7):
        means = np.array([float(v.predict({"D": d})[0][0]) for v in variants])
        _, cov, v_mu = emu.predict({"D": d})
        # the draws scale by σ at the reference θ; this emulator's σ is constant (degree_var 0)
        assert means.std() == pytest.approx(np.sqrt(float(v_mu[0])), rel=0.12)
        assert abs(means.mean() - float(emu.predict({"D": d})[0][0])) < 3 * means.std() / np.sqrt(400)


def test_an_added_error_joins_in_quadrature_and_can_undecide_a_comparison():
    """``with_extra_errors``: each log Z and log BF keeps its Monte-Carlo error as ``mc_error``, the total
    is the quadrature sum, and the verdict uses the total (log BF − 2 err ≥ 3)."""
    table = {"evidence": {"a": {"log_evidence": 10.0, "error": 0.3}, "b": {"log_evidence": 5.0, "error": 0.4}},
             "best": "a", "bayes_factors": {"b": {"log_bayes_factor": 5.0, "error": 0.5}}, "decided": True}
    out = with_extra_errors(table, {"a": 0.4, "b": 0.3}, {"b": 1.2}, "emulator_error")
    assert out["evidence"]["a"]["error"] == pytest.approx(0.5) and out["evidence"]["a"]["mc_error"] == 0.3
    bf = out["bayes_factors"]["b"]
    assert bf["error"] == pytest.approx(1.3) and bf["mc_error"] == 0.5 and bf["emulator_error"] == 1.2
    assert "± 1.30" in bf["interpretation"] and not out["decided"]  # 5 − 2·1.3 = 2.4 < 3
