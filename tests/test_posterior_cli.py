"""`domainfit emulator` and `domainfit estimate --posterior`: report keys, files, --fix, --prior, one-line errors.

A tiny synthetic co-pt dataset (D and σ vary; Ms, Ku, A held) through the real store, an untrained tiny CNN
with real metadata, and an emulator fitted by the `emulator` command; NUTS runs with tiny budgets.
"""

import json
import shutil

import arviz as az
import jax
import numpy as np
import pytest

from domainfit.cli import main
from domainfit.nn.support import UNTRUSTWORTHY_EXIT
from domainfit.nn import emulator_path, estimate, load_model, make_model, save_model
from domainfit.nn.train import normalisation

from nn_helpers import stripes, write_synthetic_dataset

RANGES = {"D": (0.0, 1e-3), "Ms": (200e3, 1.5e6), "sigma": (0.05, 0.2)}
TINY = ["--chains", "2", "--warmup", "50", "--samples", "60", "--predictive", "40", "--no-progress"]
"""NUTS budgets far below what an interval needs: every such posterior is reported untrustworthy (too
few effective draws), exit ``UNTRUSTWORTHY_EXIT``."""


def _few_draws(code: int, report: dict | None = None, err: str = "") -> None:
    """A tiny-budget posterior ran to the end and said, first, that its intervals are not to be trusted."""
    assert code == UNTRUSTWORTHY_EXIT, err
    if report is not None:
        assert report["trustworthy"] is False and any("effective draws" in r for r in report["reasons"])


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch):
    monkeypatch.setenv("DOMAINFIT_NO_CACHE", "1")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Dataset → untrained tiny model → `domainfit emulator --model` (saved beside it) → an image."""
    root = tmp_path_factory.mktemp("posterior")
    data = write_synthetic_dataset(root / "data", count=48, chunk=24, preset="co-pt")
    model, state = make_model(in_pixels=64, widths=(4, 4, 8, 8, 8, 8), key=jax.random.key(0))
    meta = {"pixel_size": 4e-9, "targets": ["D", "Ms", "sigma"], "normalisation": normalisation(RANGES),
            "ranges": {k: list(v) for k, v in RANGES.items()}, "fov": [0.2e-6, 0.256e-6],
            "training": {"steps": 0, "data_hash": "none"}, "code_version": "test", "physics_version": "1"}
    model_path = save_model(root / "model.eqx", model, state, meta)
    image = root / "maze.npy"
    np.save(image, stripes(np.array([[0.5e-3, 1.5e6, 0.1, 1.6e6, 31e-12]]), 128, seed=3)[0])
    cnn = estimate(load_model(model_path), np.load(image), 4e-9)
    return dict(root=root, data=data, model=model_path, image=image, cnn=cnn)


def _emulator_made(setup, capsys):
    path = emulator_path(setup["model"])
    if not path.exists():
        code = main(["emulator", "--data", str(setup["data"]), "--model", str(setup["model"]), "--degree", "2",
                     "--degree-var", "1"])
        assert code == 0
        out = capsys.readouterr().out
        assert "cross-validation" in out and "surrogate error" in out and "held constant" in out
    return path


def test_emulator_command_saves_beside_the_model(setup, capsys):
    path = _emulator_made(setup, capsys)
    assert path == setup["model"].with_name("model.emulator.npz") and path.is_file()
    from domainfit.surrogate import Emulator

    emu = Emulator.load(path)
    assert emu.names == ("D", "sigma") and emu.error_report["constants"]["Ms"] == pytest.approx(1.5e6)


def test_posterior_report_files_and_warnings(setup, tmp_path, capsys):
    _emulator_made(setup, capsys)
    out = tmp_path / "run"
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(setup["model"]),
                 "--posterior", *TINY, "--hdi", "0.8", "--out", str(out), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "r.json").read_text())
    _few_draws(code, report, captured.err)
    assert set(report["parameters"]) == {"D", "Ms", "sigma"}  # the CNN block is kept
    assert set(report["posterior"]) >= {"D", "Ms", "sigma"}
    for name, p in report["posterior"].items():
        assert {"unit", "mean", "sd", "median", "hdi_low", "hdi_high", "hdi_prob"} <= set(p)
        assert p["hdi_low"] <= p["median"] <= p["hdi_high"] and p["hdi_prob"] == 0.8
    assert report["posterior"]["D"]["unit"] == "mJ/m^2" and report["posterior"]["Ms"]["unit"] == "kA/m"
    assert report["posterior"]["Ms"]["fixed"] and report["posterior"]["Ms"]["sd"] == 0.0  # held in the dataset
    assert not report["posterior"]["D"]["fixed"] and report["posterior"]["D"]["sd"] > 0
    ratio = report["posterior_sd_over_cnn_sd"]
    assert set(ratio) == {"D", "Ms", "sigma"} and ratio["D"] > 0 and ratio["Ms"] == 0.0
    d = report["diagnostics"]
    assert {"r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences", "surrogate_error", "wall_time_s"} <= set(d)
    # 2 × 60 draws cannot give 400 effective draws: the report says so in words, and the printed
    # result leads with it
    assert any("effective draws" in w for w in report["warnings"])
    head = captured.out.split("CNN estimate:")[0]
    assert head.startswith("NOT TRUSTWORTHY") and "effective draws" in head
    assert report["posterior_predictive"]["draws"] == 40
    assert {p.name for p in out.iterdir()} >= {"idata.nc", "report.json", "pair.png", "predictive.png", "config.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["chains"] == 2 and config["samples"] == 60 and config["hdi_prob"] == 0.8
    assert config["emulator"].endswith("model.emulator.npz")
    idata = az.from_netcdf(out / "idata.nc")
    assert idata.posterior["D"].shape == (2, 60)
    # The reported numbers are those of the saved draws, in the same user units (issue 15).
    assert idata.posterior["D"].attrs["units"] == "mJ/m^2" and {"prior", "log_likelihood"} <= set(idata.groups())
    draws = np.asarray(idata.posterior["D"]).ravel()
    assert report["posterior"]["D"]["mean"] == pytest.approx(draws.mean(), rel=1e-5)
    assert report["posterior"]["D"]["sd"] == pytest.approx(draws.std(ddof=1), rel=0.02)
    assert draws.min() <= report["posterior"]["D"]["hdi_low"] < report["posterior"]["D"]["hdi_high"] <= draws.max()
    inside = np.mean((draws >= report["posterior"]["D"]["hdi_low"]) & (draws <= report["posterior"]["D"]["hdi_high"]))
    assert inside == pytest.approx(0.8, abs=0.03)
    assert "posterior" in captured.out and "sd/CNN sd" in captured.out


def test_fixing_a_constant_of_the_training_set_at_its_value_runs(setup, capsys):
    # The README's own `--fix Ku=1.6MJ/m3` (and `--fix Ms=1500kA/m` on a Co/Pt model) was a KeyError
    # traceback: Ku is no input of the emulator but a constant of its training set, accepted by the
    # prior and then looked up in the emulator's box.
    _emulator_made(setup, capsys)
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(setup["model"]),
                 "--posterior", *TINY, "--fix", "Ku=1.6MJ/m3", "--json", "-"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    _few_draws(code, report, captured.err)
    assert report["config"]["fixed_SI"] == {"Ku": pytest.approx(1.6e6)} and set(report["posterior"]) >= {"D", "sigma"}


def test_fix_and_a_narrow_prior_file(setup, tmp_path, capsys):
    _emulator_made(setup, capsys)
    centre = 0.3e-3 if setup["cnn"].mean["D"] > 0.55e-3 else 0.8e-3
    prior_file = tmp_path / "narrow.py"
    prior_file.write_text(
        "import numpyro.distributions as dist\n"
        "from domainfit.inference import Prior\n\n"
        "def prior(box):\n"
        f"    return {{'D': Prior('D', dist.Normal({centre!r}, 0.01e-3))}}\n"
    )
    out = tmp_path / "run"
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(setup["model"]),
                 "--posterior", *TINY, "--chains", "1", "--samples", "100", "--fix", "sigma=0.1",
                 "--prior", str(prior_file), "--out", str(out),
                 "--json", "-"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    _few_draws(code, report, captured.err)
    sigma = report["posterior"]["sigma"]
    assert sigma["fixed"] and sigma["sd"] == 0 and sigma["hdi_low"] == sigma["hdi_high"] == pytest.approx(0.1)
    assert "sigma" not in az.from_netcdf(out / "idata.nc").posterior  # not sampled
    assert report["posterior"]["D"]["mean"] == pytest.approx(centre * 1e3, abs=0.03)  # the prior dominates
    assert report["config"]["fixed_SI"] == {"sigma": 0.1}


def _no_support_prior(setup, tmp_path):
    d = setup["cnn"].mean["D"]
    path = tmp_path / "far.py"
    path.write_text("from domainfit.inference import Prior\n\n"
                    f"def prior():\n    return [Prior.uniform('D', {d + 2e-4!r}, {d + 3e-4!r})]\n")
    return path


@pytest.mark.parametrize("case, words", [
    ("no_emulator", "no emulator for model"),
    ("bad_unit", "unknown unit"),
    ("no_unit", "has no unit"),
    ("no_function", "defines no function prior()"),
    ("no_support", "no support at the starting estimate"),
    ("samples_0", "at least one chain and one sample"),
    ("too_few", "budget too small"),
    ("fix_not_input", "cannot fix Ku"),
    ("without_posterior", "only applies with --posterior"),
])
def test_bad_inputs_are_one_line_errors(setup, tmp_path, capsys, case, words):
    _emulator_made(setup, capsys)
    model = setup["model"]
    extra = ["--posterior", *TINY]
    if case == "no_emulator":
        model = tmp_path / "bare.eqx"
        shutil.copy(setup["model"], model)
        shutil.copy(setup["model"].with_suffix(".json"), model.with_suffix(".json"))
    elif case == "bad_unit":
        extra += ["--fix", "Ku=1.6MJ/m2"]
    elif case == "no_unit":
        extra += ["--fix", "D=0.5"]
    elif case == "no_function":
        (tmp_path / "empty.py").write_text("def my_prior():\n    return {}\n")
        extra += ["--prior", str(tmp_path / "empty.py")]
    elif case == "no_support":
        extra += ["--prior", str(_no_support_prior(setup, tmp_path))]
    elif case == "samples_0":
        extra += ["--samples", "0"]
    elif case == "too_few":
        extra += ["--samples", "10"]
    elif case == "fix_not_input":
        extra += ["--fix", "Ku=1.2MJ/m3"]
    elif case == "without_posterior":
        extra = ["--chains", "2"]
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(model), *extra])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_mixed_training_set_gets_one_emulator_per_component_and_estimate_picks_one(setup, tmp_path, capsys):
    # A --preset mix dataset: `emulator --model` keeps one emulator per prior box beside the model, and
    # `estimate --posterior` uses the one whose box the CNN estimate fits (the choice is in the report).
    data = write_synthetic_dataset(tmp_path / "mix", count=96, chunk=48, preset="mix")
    model = tmp_path / "mixmodel.eqx"
    shutil.copy(setup["model"], model)
    shutil.copy(setup["model"].with_suffix(".json"), model.with_suffix(".json"))
    code = main(["emulator", "--data", str(data), "--model", str(model), "--degree", "2", "--degree-var", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "prior component co-pt" in out and "prior component low-ms" in out
    files = sorted(p.name for p in tmp_path.glob("mixmodel.emulator*"))
    assert files == ["mixmodel.emulator-co-pt.npz", "mixmodel.emulator-low-ms.npz"]
    code = main(["emulator", "--data", str(data), "--out", str(tmp_path / "one.npz")])
    assert code == 2 and "--component" in capsys.readouterr().err
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(model), "--posterior", *TINY,
                 "--json", "-"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    _few_draws(code, report, captured.err)
    from domainfit.workflows.setup import choose_emulator
    from domainfit.surrogate import Emulator

    cands = [Emulator.load(tmp_path / f) for f in files]
    cnn = estimate(load_model(model), np.load(setup["image"]), 4e-9)
    expected = ["co-pt", "low-ms"][choose_emulator(cnn.mean, cnn.sd, cands)]
    assert report["emulator"]["component"] == expected and len(report["emulator"]["candidates"]) == 2


def test_learned_statistics_are_the_cnn_estimates_and_stay_tied_to_their_model(setup, tmp_path, capsys):
    # `emulator --learned` appends the CNN's estimates (mJ/m², 1) to the statistics. They must be what
    # `estimate` reads from the same image (checked against nn.estimate on stored images), the posterior
    # must use them for the observation, the model's own training set is refused, and an emulator
    # fitted with one CNN is refused with another.
    from domainfit.data import Dataset
    from domainfit.surrogate import Emulator
    from domainfit.surrogate.learned import dataset_cnn_statistics

    loaded = load_model(setup["model"])
    ds = Dataset(setup["data"])
    names, values = dataset_cnn_statistics(loaded, ds, np.arange(3))
    assert names == ("cnn_D", "cnn_Ms", "cnn_sigma")  # every parameter the model's ranges let vary
    for row in range(3):
        cnn = estimate(loaded, ds.images([row])[0], ds.image_pixel_size)
        np.testing.assert_allclose(values[row], [cnn.mean["D"] * 1e3, cnn.mean["Ms"] / 1e3, cnn.mean["sigma"]],
                                   rtol=1e-5)

    emu_path = tmp_path / "learned.npz"
    code = main(["emulator", "--data", str(setup["data"]), "--model", str(setup["model"]), "--out", str(emu_path),
                 "--learned", "--degree", "2", "--degree-var", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    emu = Emulator.load(emu_path)
    assert emu.stat_names[-3:] == ("cnn_D", "cnn_Ms", "cnn_sigma") and len(emu.stat_names) == 8
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(setup["model"]),
                 "--posterior", *TINY, "--emulator", str(emu_path), "--json", "-"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    _few_draws(code, report, captured.err)
    observed = report["observation"]["statistics"][-3:]
    np.testing.assert_allclose(observed, [report["parameters"][p]["mean"] for p in ("D", "Ms", "sigma")], rtol=1e-5)

    compare = ["compare", str(setup["image"]), "--pixel-size", "4nm", "--model", f"free={emu_path}",
               "--model", f"fixed={emu_path}", "--fix", "fixed:sigma=0.1", "--particles", "100", "--runs", "2"]
    code = main(compare)  # the CNN whose estimates are statistics must be named
    err = capsys.readouterr().err
    assert code == 2 and "--cnn" in err and err.count("\n") == 1, err
    code = main([*compare, "--cnn", str(setup["model"]), "--json", "-"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = json.loads(captured.out)
    assert set(table["evidence"]) == {"free", "fixed"}
    # Independent truth: one model under two names has one evidence (the Bayes factor is 1).
    same = ["compare", str(setup["image"]), "--pixel-size", "4nm", "--model", f"a={emu_path}", "--model",
            f"b={emu_path}", "--particles", "300", "--runs", "3", "--cnn", str(setup["model"]), "--json", "-"]
    assert main(same) == 0
    bf = next(iter(json.loads(capsys.readouterr().out)["bayes_factors"].values()))
    assert abs(bf["log_bayes_factor"]) < 3 * bf["error"] + 0.05, bf

    other = tmp_path / "other.eqx"  # same metadata, other weights
    model, state = make_model(in_pixels=64, widths=(4, 4, 8, 8, 8, 8), key=jax.random.key(1))
    save_model(other, model, state, {k: v for k, v in loaded.meta.items() if k not in ("leaves_sha256",)})
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(other), "--posterior", *TINY,
                 "--emulator", str(emu_path)])
    err = capsys.readouterr().err
    assert code == 2 and "another CNN" in err and err.count("\n") == 1, err

    trained = tmp_path / "trained.eqx"  # a model whose training set is this dataset
    meta = dict(loaded.meta, training={"steps": 0, "data_hash": ds.content_hash()})
    save_model(trained, load_model(setup["model"]).model, loaded.state, meta)
    code = main(["emulator", "--data", str(setup["data"]), "--model", str(trained), "--out", str(tmp_path / "t.npz"),
                 "--learned"])
    err = capsys.readouterr().err
    assert code == 2 and "training set" in err and err.count("\n") == 1, err


def test_emulator_for_the_shipped_model_needs_an_out_file(tmp_path, capsys):
    # The shipped model's CNN can feed --learned, but its packaged emulator is never overwritten in place.
    code = main(["emulator", "--data", str(tmp_path), "--model", "default", "--learned"])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and err.count("\n") == 1, err


# --- the one-call Python API (issue 15) -----------------------------------------------------------------------


def test_one_call_estimate_is_what_the_command_line_runs(setup, tmp_path, capsys):
    import domainfit as df

    _emulator_made(setup, capsys)
    config = df.PosteriorConfig(chains=2, warmup=50, samples=60, predictive=40)
    r = df.estimate(setup["image"], pixel_size="4nm", model=setup["model"], posterior=config, key=0)
    files = r.save(tmp_path / "api")
    code = main(["estimate", str(setup["image"]), "--pixel-size", "4nm", "--model", str(setup["model"]),
                 "--posterior", *TINY, "--seed", "0", "--out", str(tmp_path / "cli"), "--json", "-"])
    captured = capsys.readouterr()
    _few_draws(code, json.loads(captured.out), captured.err)
    cli = json.loads(captured.out)
    # the same computation: same draws, same report, the same files
    assert {p.name for p in (tmp_path / "api").iterdir()} == {p.name for p in (tmp_path / "cli").iterdir()}
    assert set(files) == set(cli["files"])
    for name in ("D", "sigma"):
        assert r.report["posterior"][name]["mean"] == pytest.approx(cli["posterior"][name]["mean"], rel=1e-6)
    assert not r.trustworthy and str(r).startswith("NOT TRUSTWORTHY") and "sd/CNN sd" in str(r)
    # a full InferenceData in user units
    idata = r.idata
    assert {"posterior", "prior", "posterior_predictive", "log_likelihood", "observed_data", "sample_stats"} <= set(idata.groups())
    assert idata.posterior["D"].attrs["units"] == "mJ/m^2" and idata.prior["D"].attrs["units"] == "mJ/m^2"
    si = np.asarray(r.posterior.idata.posterior["D"])
    np.testing.assert_allclose(np.asarray(idata.posterior["D"]), si * 1e3, rtol=1e-12)
    from domainfit.surrogate import Emulator

    lo, hi = (v * 1e3 for v in Emulator.load(emulator_path(setup["model"])).box["D"])
    prior_d = np.asarray(idata.prior["D"]).ravel()
    assert lo <= prior_d.min() and prior_d.max() <= hi  # uniform over the box, in mJ/m²
    assert prior_d.std() == pytest.approx((hi - lo) / np.sqrt(12), rel=0.1)
    assert idata.posterior_predictive["s"].shape == (2, 60, len(idata.observed_data["s"]))
    # the pointwise terms sum to the joint log-likelihood the sampler used (an independent evaluation),
    # less the factor log p_w(θ) that the film keeps walls (surrogate.presence), which is no statistic
    problem = r.posterior.problem
    ll = np.asarray(idata.log_likelihood["s"]).sum(-1)
    for c, d in ((0, 0), (1, 17), (1, 59)):
        theta = dict(problem.prior.theta(jax.numpy.zeros(problem.prior.dim)))
        theta.update({n: float(r.posterior.idata.posterior[n][c, d]) for n in problem.names})
        presence = float(problem.likelihood.presence_term(theta))
        assert presence < 0 and presence > np.log(1 - 0.5 / 40)  # every synthetic view shows walls: log(1 − ε)
        assert ll[c, d] == pytest.approx(float(problem.likelihood(theta)) - presence, rel=1e-4, abs=1e-3)
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    assert len(az.compare({"a": idata, "b": idata})) == 2 and set(az.summary(idata).index) == {"D", "sigma"}
    import matplotlib

    matplotlib.use("Agg")
    assert az.plot_pair(idata) is not None
    fig = r.plot(tmp_path / "pair_again.png")
    assert (tmp_path / "pair_again.png").is_file() and len(fig.axes) >= 4


def test_pointwise_log_likelihood_is_the_chain_rule_of_the_joint_gaussian():
    from scipy.stats import multivariate_normal

    from domainfit.inference.idata import pointwise_log_likelihood

    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    cov, mean, s = a @ a.T + 0.5 * np.eye(5), rng.standard_normal(5), rng.standard_normal(5)
    terms = np.asarray(pointwise_log_likelihood(jax.numpy.asarray(s), jax.numpy.asarray(mean), jax.numpy.asarray(cov)))
    assert terms.sum() == pytest.approx(multivariate_normal(mean, cov).logpdf(s), rel=1e-5)
    # the first term is the marginal of s_0; the first two, the marginal of (s_0, s_1)
    assert terms[0] == pytest.approx(multivariate_normal(mean[0], cov[0, 0]).logpdf(s[0]), rel=1e-5)
    assert terms[:2].sum() == pytest.approx(multivariate_normal(mean[:2], cov[:2, :2]).logpdf(s[:2]), rel=1e-5)


def test_one_call_estimate_reads_arrays_and_refuses_what_it_cannot_use(setup, capsys):
    import domainfit as df
    from domainfit import DomainfitError
    from domainfit.inference import Prior

    _emulator_made(setup, capsys)
    array = np.load(setup["image"])
    from_file = df.estimate(setup["image"], pixel_size=4e-9, model=setup["model"])
    from_array = df.estimate(array, pixel_size="4nm", model=setup["model"])
    assert from_array.report["parameters"]["D"]["mean"] == pytest.approx(from_file.report["parameters"]["D"]["mean"])
    assert from_array.idata is None and "D =" in str(from_array)
    with pytest.raises(DomainfitError, match="needs its pixel size"):
        df.estimate(array, model=setup["model"])
    with pytest.raises(DomainfitError, match="only applies with a posterior"):
        df.estimate(array, pixel_size=4e-9, model=setup["model"], fix={"sigma": 0.1})
    with pytest.raises(DomainfitError, match="strictly between 0 and 1"):
        df.estimate(array, pixel_size=4e-9, model=setup["model"], posterior=df.PosteriorConfig(hdi_prob=1.5))
    # a prior on a parameter the emulator does not take would come back as a "posterior" equal to it
    config = df.PosteriorConfig(chains=2, warmup=50, samples=60, predictive=0)
    with pytest.raises(DomainfitError, match="does not depend on"):
        df.estimate(array, pixel_size=4e-9, model=setup["model"], posterior=config,
                    priors=[Prior.uniform("Ms", 1.0e6, 1.6e6)])
