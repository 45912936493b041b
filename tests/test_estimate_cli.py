"""The `estimate`, `evaluate` and `train` commands: output format, units, one-line errors, speed."""

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from domainfit import DomainfitError, imaging
from domainfit.cli import main
from domainfit.nn import make_model, save_model
from domainfit.nn.train import normalisation

from nn_helpers import TINY_CLI, stripes, write_synthetic_dataset

RANGES = {"D": (0.0, 1e-3), "Ms": (200e3, 1.5e6), "sigma": (0.05, 0.2)}


def untrained_model(path, *, pixel_size, in_pixels, widths, ranges=RANGES):
    """An untrained model with real metadata: what the commands do does not depend on the weights."""
    model, state = make_model(in_pixels=in_pixels, widths=widths, key=jax.random.key(0))
    meta = {"pixel_size": pixel_size, "targets": ["D", "Ms", "sigma"], "normalisation": normalisation(ranges),
            "ranges": {k: list(v) for k, v in ranges.items()}, "fov": [0.5e-6, in_pixels * pixel_size],
            "training": {"steps": 0, "data_hash": "none"}, "code_version": "test", "physics_version": "1"}  # fmt: skip
    return save_model(path, model, state, meta)


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch):
    """In-process commands must not switch on the on-disk compilation cache in the user's home."""
    monkeypatch.setenv("DOMAINFIT_NO_CACHE", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "tiny": untrained_model(folder / "tiny.eqx", pixel_size=4e-9, in_pixels=64, widths=(4, 4, 8, 8, 8, 8)),
        "paper": untrained_model(folder / "paper.eqx", pixel_size=16e-9, in_pixels=128, widths=(16, 32, 64, 64, 128, 128)),
    }


@pytest.fixture(scope="module")
def image_512(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "maze.npy"
    np.save(path, imaging.load("example-512").data)  # a relaxed maze: regular stripes are flagged (exit 3)
    return path


def run_cli(*args, env=None):
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "domainfit", *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t


@pytest.mark.exclusive
@pytest.mark.parametrize("name, pixel, tiles", [("tiny", "4nm", 64), ("paper", "16nm", 16), ("paper", "4nm", 1)])
def test_estimate_a_512_image_within_10_s_from_a_cold_start(models, image_512, tmp_path, name, pixel, tiles):
    out = tmp_path / "estimate.json"
    # A fresh compilation cache: JAX start-up and compilation are part of the time.
    code, stdout, stderr, wall = run_cli("estimate", str(image_512), "--pixel-size", pixel, "--model", str(models[name]),
                                         "--json", str(out), env={"DOMAINFIT_CACHE": str(tmp_path / "cache")})  # fmt: skip
    assert code == 0, stderr
    print(f"estimate {name} model, 512² image at {pixel}: {wall:.2f} s wall")
    assert wall < 10.0
    report = json.loads(out.read_text())
    params = report["parameters"]
    assert {k: params[k]["unit"] for k in params} == {"D": "mJ/m^2", "Ms": "kA/m", "sigma": "1"}
    for p in params.values():
        assert np.isfinite(p["mean"]) and p["sd"] > 0
    assert report["tiles"] == tiles and report["timing"]["total_s"] < wall
    assert report["model"]["pixel_size_nm"] == pytest.approx(float(pixel[:-2]) if name == "tiny" else 16.0)
    assert "mJ/m²" in stdout and "kA/m" in stdout and "σ" in stdout


def test_estimate_json_on_stdout_and_units(models, image_512, capsys):
    code = main(["estimate", str(image_512), "--pixel-size", "0.004um", "--model", str(models["tiny"]), "--json", "-"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image"]["pixel_size_nm"] == pytest.approx(4.0) and report["image"]["shape"] == [512, 512]
    assert report["parameters"]["Ms"]["mean"] > 10  # kA/m, not A/m


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "pixel size missing"),
        (["--pixel-size=-3nm"], "positive"),
        (["--pixel-size", "4nm", "--model", "/no/such/model"], "no model"),
        (["--pixel-size", "4nm", "--json", "/no/such/dir/x.json"], "does not exist"),
    ],
)
def test_estimate_errors_are_one_line(models, image_512, args, words, capsys):
    argv = ["estimate", str(image_512), *args]
    if "--model" not in args:
        argv += ["--model", str(models["tiny"])]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_evaluate_command_json_and_plots(models, tmp_path, capsys):
    data = write_synthetic_dataset(tmp_path / "data", count=6, chunk=4)
    code = main(["evaluate", "--model", str(models["tiny"]), "--data", str(data), "--fov", "0.128,0.256",
                 "--plots", str(tmp_path / "plots"), "--json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_samples"] == 6 and report["fields_of_view_um"] == pytest.approx([0.128, 0.256])
    assert report["parameters"]["D"]["unit"] == "mJ/m^2" and "coverage90" in report["parameters"]["sigma"]
    assert len(list((tmp_path / "plots").glob("set_vs_estimate_*.png"))) == 3


def test_calibrate_command_stores_factors_and_refuses_too_few_images(models, tmp_path, capsys):
    import shutil

    for suffix in (".eqx", ".json"):
        shutil.copy(models["tiny"].with_suffix(suffix), tmp_path / f"m{suffix}")
    data = write_synthetic_dataset(tmp_path / "data", count=12, chunk=4)
    argv = ["calibrate", "--model", str(tmp_path / "m.eqx"), "--data", str(data), "--fov", "0.128,0.256"]
    assert main([*argv, "--split", "all", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    stored = json.loads((tmp_path / "m.json").read_text())["spread_calibration"]
    assert stored == record and record["rows"] == 12 and set(record["factors"]) == {"D", "Ms", "sigma"}
    assert all(f > 0 for f in record["factors"].values())
    assert main(argv) == 2  # the validation split of 12 images holds fewer than 10
    err = capsys.readouterr().err
    assert "need at least 10" in err and err.count("\n") == 1, err


def test_train_command_stops_on_time_limit_and_resumes(tmp_path, capsys):
    data = write_synthetic_dataset(tmp_path / "data")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY_CLI, "--time-limit", "0", "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "trained to step 1 of 120" in first and (out / "model.eqx").exists()
    assert main(["train", "--data", str(data), "--out", str(out), *TINY_CLI, "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resumed_from"] == 1 and report["steps"] == 120
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["steps"] == 120 and meta["pixel_size"] == pytest.approx(4e-9)
    code = main(["train", "--data", str(data), "--out", str(out), *TINY_CLI[:-2], "--seed", "1"])
    assert code == 2 and "other settings" in capsys.readouterr().err


def test_a_target_held_fixed_in_training_is_reported_as_not_estimated(tmp_path, capsys):
    # A Co/Pt-only model never saw Ms vary: it must say Ms is the training value, not pretend to measure it.
    ranges = dict(RANGES, Ms=(1.5e6, 1.5e6))
    path = untrained_model(tmp_path / "copt.eqx", pixel_size=4e-9, in_pixels=64, widths=(4, 4, 8, 8, 8, 8), ranges=ranges)
    image = tmp_path / "maze.npy"
    np.save(image, stripes(np.array([[0.5e-3, 1.5e6, 0.1, 1.6e6, 31e-12]]), 64, seed=1)[0])
    # 64 px of 4 nm is a 0.256 µm field of view, below the model's 0.5 µm: estimated, flagged (exit 3)
    assert main(["estimate", str(image), "--pixel-size", "4nm", "--model", str(path), "--json", "-"]) == 3
    report = json.loads(capsys.readouterr().out)
    params = report["parameters"]
    assert not report["trustworthy"] and any("field of view" in r for r in report["reasons"])
    assert params["Ms"] == {"unit": "kA/m", "mean": 1500.0, "sd": 0.0, "fixed": True}
    assert "fixed" not in params["D"] and params["D"]["sd"] > 0
    assert main(["estimate", str(image), "--pixel-size", "4nm", "--model", str(path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith("NOT TRUSTWORTHY") and "Ms = 1500 kA/m (not estimated" in out


def test_instrument_options_flag_settings_outside_training(tmp_path, image_512, capsys):
    # A model trained on instrument views knows which instruments it saw: a lift height outside the
    # MFM range it was trained on is a reason not to trust the result (exit 3), a family it never saw
    # a warning, and --lift without --instrument a one-line error.
    from domainfit.data import TRAINING_INSTRUMENTS

    path = untrained_model(tmp_path / "instr.eqx", pixel_size=16e-9, in_pixels=128, widths=(4, 4, 8, 8, 8, 8))
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.update(instruments=TRAINING_INSTRUMENTS.to_json(), preprocess={"flatten": 2})
    path.with_suffix(".json").write_text(json.dumps(meta))
    base = ["estimate", str(image_512), "--pixel-size", "4nm", "--model", str(path), "--json", "-"]
    code = main([*base, "--instrument", "mfm", "--lift", "25nm"])
    report = json.loads(capsys.readouterr().out)
    assert report["instrument"] == {"family": "mfm", "lift_nm": pytest.approx(25.0)}
    assert not any("lift" in r for r in report["reasons"])
    code = main([*base, "--instrument", "mfm", "--lift", "80nm"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and any("lift 80 nm is outside the mfm settings" in r for r in report["reasons"])
    main([*base, "--instrument", "lorentzian"])
    assert any("never trained on lorentzian" in w for w in json.loads(capsys.readouterr().out)["warnings"])
    code = main([*base, "--lift", "25nm"])
    err = capsys.readouterr().err
    assert code == 2 and "--lift needs --instrument" in err and err.count("\n") == 1


def test_named_probe_settings_set_the_spread_through_the_cli(capsys):
    # The shipped model was calibrated per family and per setting: a probe 80 nm above the film with a
    # 60 nm sensor hides the grain-scale wall roughness that carries σ, one 10 nm up with a 5 nm sensor
    # does not. The CLI passes --lift/--resolution to that calibration (issue 13), says which was
    # used, and asks for the settings when only the family is named.
    base = ["estimate", "example", "--instrument", "probe", "--json", "-"]
    reports = {}
    for name, extra in (("low", ["--lift", "10nm", "--resolution", "5nm"]), ("high", ["--lift", "80nm", "--resolution", "60nm"]),
                        ("family", [])):  # fmt: skip
        assert main([*base, *extra]) == 0
        reports[name] = json.loads(capsys.readouterr().out)
    sd = {k: r["parameters"]["sigma"]["sd"] for k, r in reports.items()}
    assert reports["low"]["spread_calibration"] == reports["high"]["spread_calibration"] == "family and settings"
    assert reports["family"]["spread_calibration"] == "family"
    assert sd["high"] > 1.3 * sd["low"] and reports["high"]["parameters"]["sigma"]["mean"] == reports["low"]["parameters"]["sigma"]["mean"]
    assert any("give its height (--lift) and resolution (--resolution)" in w for w in reports["family"]["warnings"])
    assert not any("--lift" in w for w in reports["low"]["warnings"])
    assert main(["estimate", "example", "--instrument", "probe", "--lift", "10nm", "--resolution", "5nm"]) == 0
    assert "spreads calibrated for probe images at the given settings" in capsys.readouterr().out
    assert main(["estimate", "example"]) == 0
    assert "spreads pooled over the training instruments (name yours: --instrument)" in capsys.readouterr().out
    # unnamed, the probe's σ intervals are too narrow (measured): said, as a warning, not silently
    assert main(["estimate", "example", "--json", "-"]) == 0
    assert any("instrument is not named" in w for w in json.loads(capsys.readouterr().out)["warnings"])
    assert not any("instrument is not named" in w for r in reports.values() for w in r["warnings"])


def test_one_call_estimate_takes_an_image_already_read():
    # domainfit.estimate passed the shipped model's background degree to an imaging.DomainImage, which
    # refused it ("invert/flatten apply when reading an image"): the calibration benchmark hit it. A
    # DomainImage is used as it was read; read with the model's degree it gives the file's estimate.
    import domainfit as df
    from domainfit import imaging

    from domainfit.workflows.inputs import load_model
    model = load_model("default")
    from_file = df.estimate("example", model=model, single_view=True)
    from_image = df.estimate(imaging.load("example", flatten=model.flatten), model=model, single_view=True)
    assert from_image.report["parameters"]["D"]["mean"] == pytest.approx(from_file.report["parameters"]["D"]["mean"])
    assert from_image.config["flatten"] is None and from_file.config["flatten"] == model.flatten == 2


@pytest.mark.parametrize("config, words", [
    (dict(hdi_prob=1.5), "HDI probability 1.5"),
    (dict(chains=1, samples=50), "budget too small"),
])
def test_several_images_check_the_posterior_settings_before_anything_runs(config, words, monkeypatch):
    """One image and several take one path: a posterior budget that cannot work is refused before the
    model is even loaded, for a list of images too (the several-image path used to load the model, read
    every image with the CNN and fit the MAP before the sampler refused the budget)."""
    import domainfit as df
    from domainfit.workflows import estimate as workflow

    def too_late(*args, **kwargs):
        raise AssertionError("the model was loaded before the posterior settings were checked")

    monkeypatch.setattr(workflow, "load_model", too_late)
    for images in ("example", ["example", "example-512"]):
        with pytest.raises(DomainfitError, match=words):
            df.estimate(images, posterior=df.PosteriorConfig(**config))
