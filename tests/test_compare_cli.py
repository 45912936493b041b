"""``domainfit compare``: two emulator models of one image, the one that reproduces it wins."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit import DomainfitError

from domainfit import inference as inf
from domainfit.cli import main
from domainfit.stats import SUMMARY_NAMES, summary_vector


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
        emu = inf.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1,
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
    emu = inf.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1, degree_var=0,
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
        emulators[name] = inf.fit_emulator(theta, s, area=(size * px) ** 2, stat_names=SUMMARY_NAMES, degree=1,
                                           degree_var=0, folds=1, key=jax.random.key(0))
    image = np.load(tmp_path / "img.npy")
    c = df.compare(image, pixel_size="4nm", models=emulators, fix={"near": {"sigma": "0.1"}}, particles=200, runs=2,
                   priors=[Prior.uniform("D", 0.2e-3, 0.9e-3)])
    assert c.best == "near" and c.table["bayes_factors"]["far"]["log_bayes_factor"] > 5
    assert c.table["models"]["near"]["fixed_SI"] == {"sigma": 0.1}
    assert str(c).splitlines()[0].strip().startswith("near: log Z")
    assert json.loads(c.save(tmp_path / "c.json").read_text())["best"] == "near"
    # the user's prior replaces the preset's box of D; fixed values replace single priors
    from domainfit.comparison import comparison_prior

    prior = comparison_prior("co-pt", [Prior.uniform("D", 0.2e-3, 0.9e-3)], {"sigma": 0.1})
    assert prior.names == ("D",)
    u = prior.sample_u(2000, key=jax.random.key(0))
    d = np.asarray(jax.vmap(prior.theta)(u)["D"])
    assert 0.2e-3 <= d.min() and d.max() <= 0.9e-3 and d.mean() == pytest.approx(0.55e-3, rel=0.03)
    with pytest.raises(DomainfitError, match="is no model"):
        df.compare(image, pixel_size="4nm", models=emulators, fix={"nea": {"sigma": 0.1}}, particles=200, runs=2)
