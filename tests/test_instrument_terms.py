"""The instrument term of the image likelihood (surrogate.instrument_terms)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit import DomainfitError
from domainfit.surrogate.instrument_terms import (
    FamilyTerm,
    InstrumentTerms,
    attach,
    fit_instrument_terms,
    terms_of,
)
from domainfit.surrogate.likelihood import EmulatorLikelihood, standardised_residuals
from domainfit import surrogate

WEIGHTS = {"ideal": 1.0, "gaussian": 3.0, "mfm": 3.0, "probe": 3.0}


def _synthetic_views(rng, films=60, draws=6, bias=None, scale=None, state_sd=0.5):
    """z = b_f + u_film + w: a film's state effect u shared by its views, view noise w of variance
    c_f − state_sd² (so the family's total scatter about its bias is c_f)."""
    bias = bias or {"ideal": (0.0, 0.1), "gaussian": (0.3, -0.2), "mfm": (0.8, 0.5), "probe": (-0.4, 0.0)}
    scale = scale or {"ideal": 0.7, "gaussian": 1.0, "mfm": 1.6, "probe": 1.2}
    z, fam, film = [], [], []
    for i in range(films):
        u = rng.normal(0, state_sd, 2)
        for f in bias:
            w = rng.normal(0, math.sqrt(scale[f] - state_sd**2), (draws, 2))
            z.append(np.asarray(bias[f]) + u + w)
            fam += [f] * draws
            film += [i] * draws
    return np.concatenate(z), np.array(fam), np.array(film), bias, scale


def test_fit_recovers_known_family_bias_scatter_and_an_honest_standard_error():
    rng = np.random.default_rng(0)
    z, fam, film, bias, scale = _synthetic_views(rng)
    t = fit_instrument_terms(z, fam, film, WEIGHTS, ("a", "b"))
    for f in bias:
        got = t.families[f]
        # the views of one film share its state: the bias' error is the films' sd / √films (≈ √(σ_u² + (c−σ_u²)/draws)/√60)
        se_true = math.sqrt(0.25 + (scale[f] - 0.25) / 6) / math.sqrt(60)
        assert got.bias_se == pytest.approx((se_true, se_true), rel=0.3)
        assert np.all(np.abs(np.asarray(got.bias) - bias[f]) < 4 * se_true)
        assert got.scale == pytest.approx((scale[f], scale[f]), rel=0.2)
        assert (got.films, got.views) == (60, 360)
    # over repeated calibrations the stated se holds: the bias errors' rms ≈ se
    errs = []
    for k in range(40):
        z, fam, film, bias, _ = _synthetic_views(np.random.default_rng(100 + k), films=20, draws=3)
        t = fit_instrument_terms(z, fam, film, WEIGHTS, ("a", "b"))
        errs.append((np.asarray(t.families["mfm"].bias) - bias["mfm"]) / np.asarray(t.families["mfm"].bias_se))
    assert np.sqrt(np.mean(np.square(errs))) == pytest.approx(1.0, abs=0.25)


def test_terms_per_family_unnamed_and_uncalibrated_are_the_stated_mixture():
    fams = {"ideal": FamilyTerm((0.0,), (0.1,), (0.7,)), "mfm": FamilyTerm((0.9,), (0.2,), (1.5,))}
    t = InstrumentTerms(fams, {"ideal": 1.0, "mfm": 3.0}, ("a",))
    w = np.array([0.25, 0.75])
    bbar = 0.75 * 0.9
    tau2 = 0.25 * bbar**2 + 0.75 * (0.9 - bbar) ** 2
    cbar = 0.25 * 0.7 + 0.75 * 1.5
    se2 = (w**2) @ np.array([0.01, 0.04])
    mfm = t.term("mfm")
    assert (mfm["kind"], float(mfm["bias"][0]), float(mfm["own_scale"][0]), float(mfm["shared_extra"][0])) == (
        "calibrated", 0.9, 1.5, pytest.approx(0.04))
    none = t.term(None)
    assert none["kind"] == "unnamed"
    assert float(none["bias"][0]) == pytest.approx(bbar)
    assert float(none["own_scale"][0]) == pytest.approx(cbar)
    assert float(none["own_extra"][0, 0]) == pytest.approx(tau2)  # per image, not averaged over its area
    assert float(none["shared_extra"][0]) == pytest.approx(se2)
    lor = t.term("lorentzian")
    assert lor["kind"] == "uncalibrated family"
    assert float(lor["own_scale"][0]) == pytest.approx(cbar)
    assert float(lor["shared_extra"][0]) == pytest.approx(tau2 + se2)
    assert "+0.90 sd" in t.describe("mfm")


def _emulator():
    rng = np.random.default_rng(3)
    d = rng.uniform(0.1e-3, 1e-3, 300)
    s = np.stack([d * 1e3 + rng.normal(0, 0.1, 300), 0.1 + 0.05 * d * 1e3 + rng.normal(0, 0.02, 300)], axis=1)
    return surrogate.fit_emulator(d[:, None], s, names=("D",), area=4e-12, stat_names=("cnn_D", "cnn_sigma"), degree=1,
                            degree_var=0, key=jax.random.key(0))


def _terms():
    return InstrumentTerms({"ideal": FamilyTerm((0.2, -0.1), (0.05, 0.05), (0.8, 0.9)),
                            "mfm": FamilyTerm((1.0, 0.5), (0.1, 0.2), (1.5, 2.0))},
                           {"ideal": 1.0, "mfm": 1.0}, ("cnn_D", "cnn_sigma"))


def test_likelihood_moments_with_a_named_family_follow_the_term(tmp_path):
    em = _emulator()
    with_terms = attach(em, _terms())
    s = jnp.array([0.6, 0.13])
    theta = {"D": 0.5e-3}
    base_mean, base_own, base_shared = EmulatorLikelihood(em, s, area_ratio=2.0).moment_parts(theta)
    ref_sd = np.sqrt(np.diag(np.asarray(em.predict(theta)[1])) + np.diag(np.asarray(base_shared)))
    mean, own, shared = EmulatorLikelihood(with_terms, s, area_ratio=2.0, instrument="mfm").moment_parts(theta)
    np.testing.assert_allclose(np.asarray(mean), np.asarray(base_mean) + np.array([1.0, 0.5]) * ref_sd, rtol=1e-5)
    r = np.sqrt([1.5, 2.0])
    np.testing.assert_allclose(np.asarray(own), np.asarray(base_own) * r[:, None] * r[None, :], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(shared), np.asarray(base_shared) * r[:, None] * r[None, :]
                               + np.diag(np.array([0.01, 0.04]) * ref_sd**2), rtol=1e-5)
    # switched off, or an emulator without terms: the pooled moments
    off = EmulatorLikelihood(with_terms, s, area_ratio=2.0, instrument="mfm", instrument_term=False).moment_parts(theta)
    np.testing.assert_allclose(np.asarray(off[0]), np.asarray(base_mean), rtol=1e-6)
    assert EmulatorLikelihood(em, s, instrument="mfm").term() is None
    # an uncalibrated family: wider than either calibrated family's shared error, mean at the mixture's bias
    lor = EmulatorLikelihood(with_terms, s, area_ratio=2.0, instrument="lorentzian")
    m_l, _, sh_l = lor.moment_parts(theta)
    np.testing.assert_allclose(np.asarray(m_l), np.asarray(base_mean) + np.array([0.6, 0.2]) * ref_sd, rtol=1e-5)
    tau2 = np.array([0.4**2, 0.3**2])  # the two families' spread about (0.6, 0.2)
    se2 = 0.25 * np.array([0.05**2 + 0.1**2, 0.05**2 + 0.2**2])
    np.testing.assert_allclose(np.asarray(sh_l), np.asarray(base_shared) + np.diag((tau2 + se2) * ref_sd**2), rtol=1e-5)
    # saved and loaded with the emulator
    path = with_terms.save(tmp_path / "em.npz")
    assert terms_of(surrogate.Emulator.load(path)).to_json() == _terms().to_json()


def test_a_family_bias_measured_on_calibration_views_removes_the_bias_of_the_posterior():
    # views of family "mfm" read D̂ one pooled sd high; the calibrated term must bring the posterior back
    em = _emulator()
    rng = np.random.default_rng(11)
    d_grid = np.linspace(0.1e-3, 1e-3, 401)
    z, fam, film, views = [], [], [], []
    for i in range(40):
        d = rng.uniform(0.2e-3, 0.9e-3)
        mean, cov, _ = em.predict({"D": d})
        sd = np.sqrt(np.diag(np.asarray(cov)))
        for f, b in (("ideal", 0.0), ("mfm", 1.0)):
            for k in range(3):
                s = np.asarray(mean) + sd * (np.array([b, 0.0]) + rng.normal(0, 1, 2))
                z.append(standardised_residuals(em, {"D": d}, s, 1.0))
                fam.append(f)
                film.append(i)
                views.append((f, d, s))
    terms = fit_instrument_terms(np.array(z), np.array(fam), np.array(film), {"ideal": 1.0, "mfm": 1.0},
                                 em.stat_names)
    assert terms.families["mfm"].bias[0] == pytest.approx(1.0, abs=0.25)
    with_terms = attach(em, terms)

    def post_mean(emulator, s, family):
        lik = EmulatorLikelihood(emulator, jnp.asarray(s, jnp.float32), instrument=family)
        lp = np.array([float(lik({"D": d})) for d in d_grid[::8]])
        p = np.exp(lp - lp.max())
        return float((d_grid[::8] * p).sum() / p.sum())

    mfm = [(d, s) for f, d, s in views if f == "mfm"][:30]
    pooled = np.mean([post_mean(em, s, "mfm") - d for d, s in mfm])
    termed = np.mean([post_mean(with_terms, s, "mfm") - d for d, s in mfm])
    assert pooled > 0.06e-3  # the pooled emulator reads this family's films high
    assert abs(termed) < 0.35 * pooled


def test_residuals_are_measured_against_the_pooled_emulator_even_when_it_carries_terms():
    """Refitting terms on an emulator that already has them must not measure against the corrected model
    (it did: the shipped emulator's refit gave a mixture bias of 0)."""
    em = _emulator()
    with_terms = attach(em, _terms())
    s = np.array([0.7, 0.14])
    for family_free in (em, with_terms):
        z = standardised_residuals(family_free, {"D": 0.5e-3}, s, 1.0)
        mean, cov, _ = em.predict({"D": 0.5e-3})
        _, own, shared = EmulatorLikelihood(em, jnp.asarray(s)).moment_parts({"D": 0.5e-3})
        np.testing.assert_allclose(z, (s - np.asarray(mean)) / np.sqrt(np.diag(np.asarray(own + shared))), rtol=1e-5)


def test_bad_terms_are_refused():
    with pytest.raises(DomainfitError, match="at least 5"):
        fit_instrument_terms(np.zeros((8, 2)), ["mfm"] * 8, [0, 0, 1, 1, 2, 2, 3, 3], {"mfm": 1.0}, ("a", "b"))
    with pytest.raises(DomainfitError, match="non-finite"):
        fit_instrument_terms(np.full((8, 2), np.nan), ["mfm"] * 8, list(range(8)), {"mfm": 1.0}, ("a", "b"))
    with pytest.raises(DomainfitError, match="scale"):
        InstrumentTerms({"mfm": FamilyTerm((0.0,), (0.1,), (0.0,))}, {"mfm": 1.0}, ("a",))
    with pytest.raises(DomainfitError, match="statistics"):
        attach(_emulator(), InstrumentTerms({"mfm": FamilyTerm((0.0,), (0.1,), (1.0,))}, {"mfm": 1.0}, ("a",)))


def test_benchmark_fit_recovers_the_bias_of_readings_made_from_the_shipped_emulator(tmp_path):
    """tools/assets/instrument_terms.py --fit on cached readings drawn from the shipped emulator at each
    film's θ with a known bias per family: the written emulator carries those biases."""
    import json

    from tools.assets import instrument_terms as bench
    from domainfit.nn import emulator_path
    from domainfit.workflows.estimate import load_model

    em = surrogate.Emulator.load(emulator_path(load_model("default").path))
    rng = np.random.default_rng(5)
    want = {"ideal": -0.3, "gaussian": 0.0, "mfm": 0.9, "probe": 0.3}
    rows = []
    for i in range(30):
        d, sg = rng.uniform(0.15e-3, 0.95e-3), rng.uniform(0.06, 0.19)
        mean, own, shared = EmulatorLikelihood(em, jnp.zeros(2)).moment_parts({"D": d, "sigma": sg})
        sd = np.sqrt(np.diag(np.asarray(own + shared)))
        views = []
        for f, b in want.items():
            for k in range(4):
                s = np.asarray(mean) + sd * (np.array([b, -b]) + rng.normal(0, 1, 2))
                views.append(dict(family=f, cnn_D=float(s[0]), cnn_sigma=float(s[1]), area_m2=em.area))
        rows.append(dict(film=f"film-512-{i}.npz", seed=i, D=d, sigma=sg, views=views))
    cache = tmp_path / "views.jsonl"
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "em.npz"
    summary = bench.main(["--films", str(tmp_path), "--cache", str(cache), "--fit", "--write", str(out),
                          "--json", str(tmp_path / "s.json")])
    terms = terms_of(surrogate.Emulator.load(out))
    for f, b in want.items():
        got = terms.families[f]
        assert abs(got.bias[0] - b) < 4 * got.bias_se[0] + 0.05
        assert abs(got.bias[1] + b) < 4 * got.bias_se[1] + 0.05
        assert got.scale[0] == pytest.approx(1.0, abs=0.35)
    assert summary["families"]["mfm"]["films"] == 30 and "30 calibration films" in terms.source


def test_estimate_uses_the_shipped_term_of_the_named_family_and_says_so():
    """Through ``estimate``: the named family's shipped term reaches the report and the text, an
    uncalibrated family gets the mixture term without being called untrustworthy for it, an unnamed
    instrument the mixture."""
    import domainfit as df
    from domainfit.nn import emulator_path
    from domainfit.workflows.estimate import load_model
    from domainfit.workflows.posterior import posterior_lines

    terms = terms_of(surrogate.Emulator.load(emulator_path(load_model("default").path)))
    assert terms is not None and set(terms.families) == {"ideal", "gaussian", "mfm", "probe"}
    cfg = df.PosteriorConfig(chains=2, samples=300, warmup=200, predictive=20)
    probe = df.estimate("example", posterior=cfg, key=1, instrument="probe")
    t = probe.report["observation"]["instrument_term"]
    assert (t["family"], t["kind"]) == ("probe", "calibrated")
    assert t["bias_over_sd"] == pytest.approx(list(terms.families["probe"].bias), rel=1e-6)
    assert any(line.startswith("instrument term (probe; bias and scatter measured") for line in posterior_lines(probe.report))
    lor = df.estimate("example", posterior=cfg, key=1, instrument="lorentzian")
    assert lor.report["observation"]["instrument_term"]["kind"] == "uncalibrated family"
    assert not any("instrument term" in r for r in lor.report["reasons"])
    none = df.estimate("example", posterior=cfg, key=1)
    assert none.report["observation"]["instrument_term"]["kind"] == "unnamed"


def test_an_unnamed_instruments_bias_is_the_families_covariance():
    """The unnamed term's own_extra is Σ_f w_f (b_f − b̄)(b_f − b̄)ᵀ, correlated between statistics as the
    families' biases are (here perfectly anti-correlated); a named family has none."""
    fams = {"ideal": FamilyTerm((0.0, 0.4), (0.1, 0.1), (1.0, 1.0)), "mfm": FamilyTerm((0.8, -0.4), (0.1, 0.1), (1.0, 1.0))}
    t = InstrumentTerms(fams, {"ideal": 1.0, "mfm": 1.0}, ("a", "b"))
    T = t.term(None)["own_extra"]
    np.testing.assert_allclose(T, [[0.16, -0.16], [-0.16, 0.16]], atol=1e-12)
    assert np.allclose(t.term("mfm")["own_extra"], 0.0)
