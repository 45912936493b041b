"""``domainfit compare``: two emulator models of one image, the one that reproduces it wins."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit import DomainfitError

from domainfit import inference as inf
from domainfit.cli import main
from domainfit.features.statistics import SUMMARY_NAMES, summary_vector
from domainfit import surrogate
from reference_numbers import check

from domainfit.notices import NO_WALLS, code_of


def _stripes(path, size: int, px: float = 4e-9) -> np.ndarray:
    """Save a stripe image of period 60 nm (size² pixels of px) to ``path``; return its statistics."""
    x = (np.arange(size) + 0.5) * px
    image = np.tanh(3 * np.cos(2 * np.pi * x / 60e-9))[None, :].repeat(size, 0).astype(np.float32)
    np.save(path, image)
    return np.asarray(summary_vector(jnp.asarray(image), px), np.float64)


def test_compare_cli_prefers_the_model_that_fits(tmp_path, capsys):
    px, size = 4e-9, 96
    s_img = _stripes(tmp_path / "img.npy", size, px)
    rng = np.random.default_rng(1)
    n = 200
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    slope = 0.05 * (np.abs(s_img) + 0.1)
    noise_sd = 0.02 * (np.abs(s_img) + 0.1)
    for name, shift in (("near", 0.0), ("far", 8.0)):
        s = (s_img + shift * noise_sd + slope * ((theta["D"] - 0.55e-3) / 1e-3)[:, None]
             + noise_sd * rng.standard_normal((n, len(s_img))))
        emu = surrogate.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1,
                               degree_var=0, folds=1, key=jax.random.key(0))
        emu.save(tmp_path / f"{name}.npz")
    code = main([
        "compare", str(tmp_path / "img.npy"), "--pixel-size", "4nm",
        "--model", f"near={tmp_path / 'near.npz'}", "--model", f"far={tmp_path / 'far.npz'}",
        "--fix", "near:sigma=0.1", "--particles", "200", "--runs", "2", "--json", "-",
    ])
    assert code == 0
    table = json.loads(capsys.readouterr().out)
    assert table["best"] == "near"
    assert table["bayes_factors"]["far"]["log_bayes_factor"] > 5


def test_compare_cli_bad_model_spec_is_one_line_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "img.npy"), "--model", "a.npz"]) == 2
    assert "NAME=EMULATOR" in capsys.readouterr().err


def test_compare_refuses_a_fix_the_model_cannot_take_and_warns_outside_its_box(tmp_path, capsys):
    # `--fix m:sgima=0.05` (a typo) and `--fix m:Ms=1000` (no input of the emulator) were accepted
    # silently and the "fixed" model equalled the free one; a value outside the emulator's box is
    # extrapolation and says so.
    px, size = 4e-9, 64
    s_img = _stripes(tmp_path / "img.npy", size, px)
    rng = np.random.default_rng(2)
    n = 120
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    s = s_img + 0.02 * (np.abs(s_img) + 0.1) * rng.standard_normal((n, len(s_img)))
    emu = surrogate.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1, degree_var=0,
                           folds=1, key=jax.random.key(0))
    emu.save(tmp_path / "e.npz")
    base = ["compare", str(tmp_path / "img.npy"), "--pixel-size", "4nm", "--model", f"m={tmp_path / 'e.npz'}",
            "--model", f"free={tmp_path / 'e.npz'}", "--particles", "100", "--runs", "2"]
    # one --fix parser with units for estimate and compare: a typo is no parameter, a dimensioned value
    # needs its unit, and a parameter the model's emulator does not take is refused
    for bad, words in (("m:sgima=0.05", "unknown parameter 'sgima'"), ("m:Ms=1000", "has no unit"),
                       ("m:Ms=1000kA/m", "cannot fix Ms: it is not an input of model 'm'")):
        assert main([*base, "--fix", bad]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
        if "input" in words:
            assert "D, sigma" in err
    assert main([*base, "--fix", "m:sigma=0.3"]) == 0
    out = capsys.readouterr().out
    assert "warning: m: sigma is fixed at 0.3, outside the emulator's training box" in out


def test_readme_compare_runs_as_written_on_the_shipped_example(capsys):
    # The README's compare line failed as written (it named emulator files nobody had and lacked
    # --cnn). `NAME=default` is the shipped emulator, with the shipped CNN implied. The example's
    # film has σ = 0.195: holding σ at 0.1 must lose clearly.
    code = main(["compare", "example", "--model", "free=default", "--model", "fixed=default",
                 "--fix", "fixed:sigma=0.1", "--particles", "300", "--runs", "2", "--json", "-"])
    assert code == 0
    table = json.loads(capsys.readouterr().out)
    assert table["best"] == "free" and table["bayes_factors"]["fixed"]["log_bayes_factor"] > 3


def test_one_call_compare_takes_emulators_and_a_shared_prior(tmp_path):
    import domainfit as df
    from domainfit.inference import Prior

    px, size = 4e-9, 96
    s_img = _stripes(tmp_path / "img.npy", size, px)
    rng = np.random.default_rng(1)
    n = 200
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    noise_sd = 0.02 * (np.abs(s_img) + 0.1)
    emulators = {}
    for name, shift in (("near", 0.0), ("far", 8.0)):
        s = (s_img + shift * noise_sd + 0.05 * (np.abs(s_img) + 0.1) * ((theta["D"] - 0.55e-3) / 1e-3)[:, None]
             + noise_sd * rng.standard_normal((n, len(s_img))))
        emulators[name] = surrogate.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1,
                                           degree_var=0, folds=1, key=jax.random.key(0))
    image = np.load(tmp_path / "img.npy")
    c = df.compare(image, pixel_size="4nm", models=emulators, fix={"near": {"sigma": "0.1"}}, particles=200, runs=2,
                   priors=[Prior.uniform("D", 0.2e-3, 0.9e-3)])
    assert c.best == "near" and c.table["bayes_factors"]["far"]["log_bayes_factor"] > 5
    assert c.table["models"]["near"]["fixed_SI"] == {"sigma": 0.1}
    assert str(c).splitlines()[0].strip().startswith("near: log Z")
    assert json.loads(c.save(tmp_path / "c.json").read_text())["best"] == "near"
    # the user's prior replaces the preset's box of D; fixed values replace single priors
    from domainfit.workflows.compare import comparison_prior

    prior = comparison_prior("co-pt", [Prior.uniform("D", 0.2e-3, 0.9e-3)], {"sigma": 0.1})
    assert prior.names == ("D",)
    u = prior.sample_u(2000, key=jax.random.key(0))
    d = np.asarray(jax.vmap(prior.theta)(u)["D"])
    assert 0.2e-3 <= d.min() and d.max() <= 0.9e-3 and d.mean() == pytest.approx(0.55e-3, rel=0.03)
    with pytest.raises(DomainfitError, match="is no model"):
        df.compare(image, pixel_size="4nm", models=emulators, fix={"nea": {"sigma": 0.1}}, particles=200, runs=2)


def test_models_that_read_different_statistics_are_refused(tmp_path):
    """Evidences of different data are no Bayes factor: the shipped model's emulator reads the CNN's
    estimates, a hand-made one five image statistics; compare once returned a 'Bayes factor' between them."""
    import domainfit as df

    px, size = 4e-9, 96
    s_img = _stripes(tmp_path / "img.npy", size, px)
    rng = np.random.default_rng(2)
    n = 100
    theta = {"D": rng.uniform(0.1e-3, 1e-3, n), "sigma": rng.uniform(0.05, 0.2, n)}
    s = s_img + 0.02 * rng.standard_normal((n, len(s_img)))
    hand = surrogate.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1, degree_var=0, folds=1)
    with pytest.raises(DomainfitError, match="different statistics"):
        df.compare("example", models={"shipped": "default", "hand": hand}, particles=100, runs=2)


def test_a_wall_free_image_compares_the_probability_of_no_walls(tmp_path):
    """Two sets, one whose films lose their walls at low Ms and one whose films always keep them: a
    uniform image favours the first by log Z₁ − log Z₂ = log ∫(1 − p_w) − log ε (quadrature)."""
    import domainfit as df
    from scipy.special import expit

    rng = np.random.default_rng(3)
    n = 400
    box = {"Ms": (200e3, 700e3), "sigma": (0.05, 0.2)}
    theta = {k: rng.uniform(lo, hi, n) for k, (lo, hi) in box.items()}
    x = np.stack([2 * (theta[k] - lo) / (hi - lo) - 1 for k, (lo, hi) in box.items()], -1)
    s = np.stack([x[:, 0], x[:, 1]], -1) + 0.05 * rng.standard_normal((n, 2))
    lows = rng.uniform(size=n) < expit(2 + 3 * x[:, 0])
    bounds = ([200e3, 0.05], [700e3, 0.2])
    kw = dict(area=4e-12, stat_names=("a", "b"), degree=1, degree_var=0, folds=1, box=bounds)
    losing = surrogate.fit_emulator(theta, np.where(lows[:, None], s, np.nan), walls=lows, **kw)
    keeping = surrogate.fit_emulator(theta, s, **kw)  # fitted without a presence model: all n views had walls
    uniform = np.ones((96, 96)) + 0.2 * rng.standard_normal((96, 96))
    c = df.compare(uniform, pixel_size="16nm", models={"losing": losing, "keeping": keeping}, preset="low-ms",
                   particles=300, runs=3)
    assert c.warnings[0].startswith("the image shows no domain walls")
    assert code_of(c.warnings[0]) == NO_WALLS and c.table["walls"] is False  # code branches on the code
    g = (np.arange(200) + 0.5) / 100 - 1
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    z_losing = np.mean(1 - np.asarray(losing.presence.prob_x(jnp.asarray(grid))))
    expected = np.log(z_losing) - np.log(0.5 / (n + 1))
    bf = c.table["bayes_factors"]["keeping"]
    assert c.best == "losing"
    assert abs(bf["log_bayes_factor"] - expected) < 3 * bf["error"] + 0.05, (bf, expected)


def _set_emulator(component, centre, spread, names, box, sha, n=300, seed=0):
    """An emulator of the shipped CNN's statistics (and the sign's geometry) for one parameter set:
    statistics centred on ``centre`` (linear in θ), as if fitted to that set's recorded views."""
    import json as _json
    import dataclasses

    rng = np.random.default_rng(seed)
    theta = {k: rng.uniform(lo, hi, n) for k, (lo, hi) in box.items()}
    x = np.stack([2 * (theta[k] - lo) / (hi - lo) - 1 for k, (lo, hi) in box.items()], -1)
    s = np.asarray(centre) + 0.3 * spread * x[:, :1] + spread * rng.standard_normal((n, len(centre)))
    bounds = ([lo for lo, _ in box.values()], [hi for _, hi in box.values()])
    emu = surrogate.fit_emulator(theta, s, area=(2.048e-6) ** 2, stat_names=names, degree=1, degree_var=0, folds=1,
                           box=bounds)
    report = emu.error_report
    report.update(component=component, learned_model_sha256=sha)
    return dataclasses.replace(emu, report=_json.dumps(report))


def test_compare_without_models_weighs_the_shipped_parameter_sets(monkeypatch):
    """No --model: the sets, each under its own box prior. The set whose statistics sit where the
    image's are wins; the probabilities are exp(log Z) normalised; a missing set is a one-line error."""
    import domainfit as df
    from domainfit.workflows import compare as comparison

    sets = _example_sets(0, 6)
    monkeypatch.setattr(comparison, "shipped_sets", lambda: sets)
    c = df.compare("example", particles=200, runs=2)
    t = c.table
    assert c.best == "co-pt" and t["decided"]
    assert sum(t["probabilities"].values()) == pytest.approx(1.0)
    lz = {n: e["log_evidence"] for n, e in t["evidence"].items()}
    assert t["probabilities"]["low-ms"] == pytest.approx(1 / (1 + np.exp(lz["co-pt"] - lz["low-ms"])), rel=1e-6)
    assert "posterior model probabilities" in str(c)
    with pytest.raises(DomainfitError, match="own box priors"):
        df.compare("example", priors=[inf.Prior.uniform("D", 0.2e-3, 0.9e-3)], particles=200, runs=2)


def _example_sets(shift_co_pt, shift_low_ms):
    """Two set emulators around the shipped CNN's statistics of the example image, each shifted by
    a multiple of its spread (0: the image sits at that set's centre)."""
    import domainfit as df
    from domainfit.surrogate.learned import GEOMETRY_NAMES, geometry_values
    from domainfit.nn import estimate, load_default

    loaded = load_default()
    from domainfit.workflows.inputs import read_image
    img = read_image("example", flatten=loaded.flatten)
    est = estimate(loaded, img.data, img.pixel_size)
    obs = np.concatenate([[est.mean["D"] * 1e3, est.mean["sigma"]], geometry_values(est.support)])
    names = ("cnn_D", "cnn_sigma") + GEOMETRY_NAMES
    spread = np.array([0.1, 0.01, 0.05, 0.5])
    return {
        "co-pt": _set_emulator("co-pt", obs + shift_co_pt * spread, spread, names,
                               {"D": (0.0, 1e-3), "sigma": (0.05, 0.2)}, loaded.sha256),
        "low-ms": _set_emulator("low-ms", obs + shift_low_ms * spread, spread, names,
                                {"Ms": (200e3, 700e3), "sigma": (0.05, 0.2)}, loaded.sha256, seed=1),
    }


def test_estimate_with_sets_names_the_set_and_reports_its_parameters(monkeypatch, capsys):
    """estimate --sets: the set whose statistics sit at the image's wins (as compare decides it); a
    winner the CNN was not trained on makes the CNN's numbers untrustworthy, and the posterior is then
    that set's (Ms and σ, D fixed at the set's 0) inside its box (a tie: the next test)."""
    import domainfit as df
    from domainfit.workflows import compare as comparison
    from domainfit.cli import main
    from domainfit.errors import UNTRUSTWORTHY_EXIT

    from domainfit.workflows import sets as set_choice

    monkeypatch.setattr(set_choice, "PARTICLES", 100)
    monkeypatch.setattr(set_choice, "RUNS", 2)
    monkeypatch.setattr(comparison, "shipped_sets", lambda: _example_sets(0, 6))
    r = df.estimate("example", sets=True)
    chosen = r.report["parameter_set"]
    assert chosen["best"] == "co-pt" and chosen["decided"] and chosen["probabilities"]["co-pt"] > 0.95
    assert not any("parameter set" in x or "not trained on" in x for x in r.reasons)
    first = str(r).splitlines()
    assert first[0].startswith("film: co-pt — ASSUMED") and first[1].startswith("parameter set: co-pt")
    assert r.report["film"]["name"] == "co-pt"

    monkeypatch.setattr(comparison, "shipped_sets", lambda: _example_sets(6, 0))
    code = main(["estimate", "example", "--sets", "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert code == UNTRUSTWORTHY_EXIT and report["parameter_set"]["best"] == "low-ms"
    assert "which the CNN was not trained on (co-pt)" in report["reasons"][0]
    cfg = df.PosteriorConfig(chains=2, samples=200, warmup=200, predictive=0)
    r = df.estimate("example", sets=True, posterior=cfg)
    post = r.report["posterior"]
    assert post["D"]["fixed"] and post["D"]["mean"] == 0.0
    assert not post["Ms"]["fixed"] and 200 <= post["Ms"]["hdi_low"] < post["Ms"]["hdi_high"] <= 700
    assert r.report["emulator"]["component"] == "low-ms"
    assert r.report["warnings"][0].startswith("the image is explained by the low-ms set")
    assert not any("not trained on" in x for x in r.reasons)  # the posterior's numbers are the set's own



def test_undecided_sets_average_the_posteriors_by_their_probabilities(monkeypatch):
    """--sets --posterior with sets the image cannot tell apart: the reported posterior is the mixture
    Σ p_k p(θ | image, set k), not the likelier set's alone (before: co-pt's D interval, as if decided).
    Its moments follow the mixture laws from each set's own block: mean Σ p_k m_k, variance
    Σ p_k (s_k² + m_k²) − mean² (a fixed parameter enters at its value, sd 0)."""
    import domainfit as df
    from domainfit.workflows import compare as comparison
    from domainfit.workflows import sets as set_choice

    monkeypatch.setattr(set_choice, "PARTICLES", 100)
    monkeypatch.setattr(set_choice, "RUNS", 2)
    monkeypatch.setattr(comparison, "shipped_sets", lambda: _example_sets(0, 0))
    cfg = df.PosteriorConfig(chains=2, samples=300, warmup=200, predictive=0)
    r = df.estimate("example", sets=True, posterior=cfg, key=4)
    block, by_set = r.report["posterior"], r.report["posterior_by_set"]
    p = r.report["parameter_set"]["probabilities"]
    assert not r.report["parameter_set"]["decided"] and r.reasons[0].startswith("the parameter sets are not distinguishable")
    assert abs(p["co-pt"] - 0.5) < 0.3
    assert r.report["parameter_set"]["averaged"] and set(by_set) == {"co-pt", "low-ms"}
    assert "averaged over the sets" in r.reasons[0] and not r.report["trustworthy"]
    for name in ("D", "Ms", "sigma"):
        m = sum(p[k] * by_set[k][name]["mean"] for k in p)
        v = sum(p[k] * (by_set[k][name]["sd"] ** 2 + by_set[k][name]["mean"] ** 2) for k in p) - m**2
        assert block[name]["mean"] == pytest.approx(m, rel=0.03, abs=1e-9)
        assert block[name]["sd"] == pytest.approx(np.sqrt(max(v, 0.0)), rel=0.05, abs=1e-9)
    # D: low-ms holds it at 0 with probability > 10 %, so a 90 % interval of the average must hold 0
    assert min(p.values()) > 0.15 and by_set["co-pt"]["D"]["hdi_low"] > 0.1
    assert block["D"]["hdi_low"] == 0.0 and block["D"]["hdi_high"] > by_set["co-pt"]["D"]["hdi_low"]
    with pytest.raises(DomainfitError, match="own box prior"):
        df.estimate("example", sets=True, posterior=True, priors=[inf.Prior.uniform("sigma", 0.05, 0.1)])


def test_the_shipped_sets_are_installed_and_decide_the_example(monkeypatch, capsys):
    """The sets' emulators ship with the package (small, the shipped CNN's statistics, a presence
    model each) and `compare example` — a co-pt simulation (D 0.71 mJ/m², σ 0.195) — names co-pt,
    decided; a set that is not installed is a one-line error."""
    from domainfit.workflows import compare as comparison
    from domainfit.surrogate import Emulator
    from domainfit.surrogate.learned import DOMAIN_GEOMETRY_NAMES
    from domainfit.nn import load_default

    files = comparison.shipped_sets()
    assert set(files) == set(comparison.SETS)
    sha = load_default().sha256
    for name, path in files.items():
        assert path.stat().st_size < 200_000
        emu = Emulator.load(path)
        assert emu.component == name and emu.presence is not None
        assert tuple(emu.stat_names) == ("cnn_D", "cnn_sigma") + DOMAIN_GEOMETRY_NAMES
        assert emu.error_report["learned_model_sha256"] == sha
    assert main(["compare", "example", "--particles", "200", "--runs", "2", "--json", "-"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["best"] == "co-pt" and table["decided"] and table["probabilities"]["co-pt"] > 0.95
    check("compare_example", {n: e["log_evidence"] for n, e in table["evidence"].items()})
    monkeypatch.setattr(comparison, "SETS", ("co-pt", "thin-ni"))
    with pytest.raises(DomainfitError, match="ships no emulator of the parameter set thin-ni"):
        comparison.shipped_sets()


@pytest.mark.parametrize("argv, match", [
    (["compare", "example", "--film", "co-pt"], "two or more"),
    (["compare", "example", "--film", "co-pt", "--film", "low-ms", "--model", "a=default"], "--model does not apply"),
    (["compare", "example", "--instrument", "mfm"], "--instrument applies to comparing films"),
    (["compare", "example", "--history", "random"], "--history applies to comparing films"),
    (["compare", "example", "--film", "co-pt", "--film", "Ms=1100kA/m,Ku=0.5MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk"],
     "K_eff"),
])
def test_compare_films_refuses_what_it_cannot_do_before_any_simulation(argv, match, capsys, tmp_path, monkeypatch):
    """Film comparisons need two films and take no emulator options; film options need films; a film that
    is not perpendicular is refused (one line, exit 2) before anything is simulated."""
    monkeypatch.setenv("DOMAINFIT_FILM_CACHE", str(tmp_path))
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


def test_compare_on_an_image_outside_both_sets_leads_with_the_reason_and_exits_3(tmp_path, capsys):
    # Issue 34: an image of text was "very strong evidence for low-ms, log BF 20.7", exit 0, with both
    # sets' emulators extrapolating. Now the reason leads and the exit code says not to rely on it.
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("L", (256, 256), 255)
    draw = ImageDraw.Draw(im)
    words = "the quick brown fox jumps over the lazy dog domain walls maze period".split()
    rng = np.random.default_rng(1)
    for y in range(0, 256, 12):
        draw.text((2, y), " ".join(rng.choice(words, 8)), fill=0, font=ImageFont.load_default())
    np.save(tmp_path / "text.npy", np.asarray(im, float))
    code = main(["compare", str(tmp_path / "text.npy"), "--pixel-size", "8nm", "--particles", "100", "--runs", "2"])
    out = capsys.readouterr().out.splitlines()
    assert code == 3
    assert out[0].startswith("NOT TRUSTWORTHY") and "outside the training set of co-pt, low-ms" in out[1]
