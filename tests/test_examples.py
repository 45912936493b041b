"""The example scripts run end to end at a tiny size (the real-size runs: docs/examples.md)."""

import csv
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from reference_numbers import check

ROOT = Path(__file__).resolve().parents[1]
TA = ROOT / "examples" / "ta_wedge"


def _module(path: Path):
    """The example script at ``path`` as a module of the ``examples`` package (imported, not run)."""
    return importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def wedge_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("ta_wedge_data")
    make = _module(TA / "make_data.py")
    make.main(make.parse(["--tiny", "--out", str(out)]))
    return out


def test_ta_wedge_data_are_tiffs_with_pixel_size_and_a_coercivity_reference(wedge_data):
    from domainfit import imaging

    truth = _rows(wedge_data / "truth.csv")
    ref = _rows(wedge_data / "reference.csv")
    assert len(truth) == len(ref) == 14
    img = imaging.load(wedge_data / truth[0]["file"])
    assert img.pixel_size == pytest.approx(8e-9, rel=1e-6) and img.shape == (64, 64)
    # μ0 H_DMI = D / (Ms Δ), Δ = √(A / (Ku − μ0 Ms²/2)): 51.6 mT per mJ/m² for this film
    mu0 = 4e-7 * math.pi
    delta = math.sqrt(31e-12 / (1.6e6 - 0.5 * mu0 * 1.5e6**2))
    assert delta == pytest.approx(12.9e-9, rel=0.01)
    for t, r in zip(truth, ref):
        # the field as read (±3 mT about the true one), and D_ref from it with a Δ known to ±7.5 %
        h_true = float(t["D_mJ_m2"]) * 1e-3 / (1.5e6 * delta) * 1e3
        h = float(r["mu0_H_DMI_mT"])
        assert abs(h - h_true) < 5 * float(r["mu0_H_DMI_err_mT"])
        assert float(r["D_ref_mJ_m2"]) == pytest.approx(h * 1e-3 * 1.5e6 * delta * 1e3, rel=0.3)
        assert float(r["D_ref_err_mJ_m2"]) > 0
    # a reading, not the truth: the seven control positions (same D) were not read as one value
    assert len({r["mu0_H_DMI_mT"] for r in ref if r["series"] == "control"}) == 7
    d = np.array([float(t["D_mJ_m2"]) for t in truth if t["series"] == "wedge"])
    s = np.array([float(t["sigma"]) for t in truth if t["series"] == "wedge"])
    assert np.all(np.diff(d) > 0) and np.all(np.diff(s) < 0)  # D rises, σ falls along the wedge
    assert all(float(t["D_mJ_m2"]) == 0.55 for t in truth if t["series"] == "control")


def test_ta_wedge_series_and_trend_run(wedge_data, tmp_path):
    est = _module(TA / "estimate_series.py")
    rows = est.main(est.parse(["--tiny", "--data", str(wedge_data), "--out", str(tmp_path), "--series", "wedge",
                               "--first", "3"]))
    assert len(rows) == 3
    check("ta_wedge_tiny_first_3", {f"{r['series']}-{r['position']}": {"D": r["D_mean"], "sigma": r["sigma_mean"]}
                                     for r in rows})
    for r in rows:
        for p in ("D", "sigma"):
            assert r[f"{p}_hdi_low"] <= r[f"{p}_mean"] <= r[f"{p}_hdi_high"]
    assert (tmp_path / "series.png").stat().st_size > 10_000
    trend = _module(TA / "trend.py")
    res, joint = trend.main(trend.parse(["--tiny", "--out", str(tmp_path), "--data", str(wedge_data)]))
    assert res["series"] == "wedge" and len(res["evidence"]) == 4
    assert (res["observations"], joint["observations"]) == ("images", "images + DMI field")
    # the DMI field of every position narrows the D slope
    assert joint["slopes"]["D"]["sd"] < res["slopes"]["D"]["sd"]
    assert all(math.isfinite(e["log_evidence"]) and e["error"] >= 0 for e in res["evidence"].values())
    for p in ("D", "sigma"):
        s = res["slopes"][p]
        assert s["hdi_low"] < s["mean"] < s["hdi_high"]
        assert math.isfinite(res["bayes_factors"][p]["linear_vs_constant_averaged"])
    saved = json.loads((tmp_path / "trend.json").read_text())
    assert saved[0]["best"] in res["evidence"]
    assert (tmp_path / "trend.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def real_stack_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("ta_wedge_real")
    make = _module(TA / "real_stack_data.py")
    make.main(make.parse(["--tiny", "--out", str(out)]))
    return out


def test_ta_wedge_real_stack_data_are_the_films_own_relaxations_and_reference(real_stack_data):
    """The real stack's data against the film's constants worked by hand: Δ, D_c, the film path's grid,
    the wedge inside (0.4, 0.9) D_c, and the coercivity reference μ0H_DMI = D/(Ms Δ) with its error."""
    from domainfit import imaging
    from domainfit.films import parse_film
    from domainfit.forward.design import film_grid

    mu0 = 4e-7 * math.pi
    ms, ku, a = 1.1e6, 0.95e6, 16e-12
    k_eff = ku - 0.5 * mu0 * ms**2
    delta, d_c = math.sqrt(a / k_eff), 4 * math.sqrt(a * k_eff) / math.pi
    assert k_eff > 0 and delta == pytest.approx(9.18e-9, rel=1e-3) and d_c == pytest.approx(2.218e-3, rel=1e-3)
    truth, ref = _rows(real_stack_data / "truth.csv"), _rows(real_stack_data / "reference.csv")
    assert len(truth) == len(ref) == 7
    img = imaging.load(real_stack_data / truth[0]["file"])
    assert img.pixel_size == pytest.approx(4e-9, rel=1e-6) and 2 * math.pi * delta / img.pixel_size > 14
    # relaxed on the grid the film path chooses for this image (cells ≤ Δ/3), with seeds no design draws
    grid = film_grid(parse_film(real_stack_data / "pt_co_mgo.toml"), min(img.shape) * img.pixel_size)
    assert grid.cells == int(truth[0]["cells"]) and float(truth[0]["cell_nm"]) * 1e-9 <= delta / 3 * (1 + 1e-9)
    assert {int(t["seed"]) for t in truth}.isdisjoint({0, 1, 1000, 1001, 1002, 1003})
    d = np.array([float(t["D_mJ_m2"]) for t in truth]) * 1e-3
    s = np.array([float(t["sigma"]) for t in truth])
    assert np.all((0.4 * d_c < d) & (d < 0.9 * d_c)) and np.all(np.diff(d) > 0) and np.all(np.diff(s) < 0)
    # linear propagation by hand: D = μ0H·Ms·√(A/(Ku − μ0Ms²/2)); ∂lnD/∂lnMs = 1 + μ0Ms²/(2K_eff) ≈ 5.0,
    # ∂lnD/∂lnKu = −Ku/(2K_eff) ≈ −2.5, ∂lnD/∂lnA = 1/2 with Ms ±3 %, Ku ±5 %, A ±15 %
    rel_constants = math.hypot((1 + mu0 * ms**2 / (2 * k_eff)) * 0.03, ku / (2 * k_eff) * 0.05, 0.5 * 0.15)
    for t, r in zip(truth, ref):
        h_true = float(t["D_mJ_m2"]) * 1e-3 / (ms * delta) * 1e3  # ≈ 99 mT per mJ/m²
        h = float(r["mu0_H_DMI_mT"])
        assert abs(h - h_true) < 5 * float(r["mu0_H_DMI_err_mT"])
        assert float(r["D_ref_mJ_m2"]) == pytest.approx(h * 1e-3 * ms * delta * 1e3, rel=1e-3)
        rel = math.hypot(rel_constants, float(r["mu0_H_DMI_err_mT"]) / h)
        assert float(r["D_ref_err_mJ_m2"]) / float(r["D_ref_mJ_m2"]) == pytest.approx(rel, rel=0.15)


def test_ta_wedge_real_stack_runs_through_the_film_path_and_resumes(real_stack_data, tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("DOMAINFIT_FILM_CACHE", raising=False)
    rs = _module(TA / "real_stack.py")
    argv = ["--tiny", "--data", str(real_stack_data), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
            "--first", "1"]
    res = rs.main(rs.parse(argv))
    assert "DOMAINFIT_FILM_CACHE" not in os.environ and any((tmp_path / "cache").iterdir())
    (row,) = res["rows"]
    rep = res["reports"][row["file"]]
    assert rep["method"] == "simulator" and rep["film"]["A"]["sd"] == pytest.approx(2.4)  # 16 pJ/m ± 15 %
    assert rep["instrument"]["family"] == "probe"
    assert rep["instrument"]["settings_nm"] == pytest.approx({"height": 40.0, "resolution": 30.0})
    assert {"A", "Ms", "Ku"} <= set(rep["parameters"])  # the uncertain constants are nuisances
    for p in ("D", "sigma"):
        assert row[f"{p}_low"] <= row[f"{p}_mean"] <= row[f"{p}_high"]
    assert sum(rep["error_budget"]["shares"].values()) == pytest.approx(1.0)
    saved = json.loads((tmp_path / "out" / "series.json").read_text())
    assert set(saved["error_budget"]) == {row["file"]} and saved["summary"]["positions"] == 1
    assert _rows(tmp_path / "out" / "series.csv")[0]["file"] == row["file"]
    assert (tmp_path / "out" / "series.png").stat().st_size > 10_000
    again = rs.main(rs.parse(argv))  # resumed from positions/*.json: nothing estimated again
    assert [(r["file"], r["D_mean"], r["seconds"]) for r in again["rows"]] == [(row["file"], row["D_mean"], row["seconds"])]


def test_quickstart_reports_intervals_that_hold_their_means(capsys):
    qs = _module(ROOT / "examples" / "quickstart.py")
    r = qs.main(qs.parse(["--tiny"]))
    check("estimate_example_posterior", {p: r.report["posterior"][p]["mean"] for p in ("D", "sigma", "Ms")})
    for p in ("D", "sigma"):
        q = r.report["posterior"][p]
        assert q["hdi_low"] < q["mean"] < q["hdi_high"]
    assert "90 % HDI" in capsys.readouterr().out


def test_custom_prior_narrows_and_pulls_the_posterior():
    cp = _module(ROOT / "examples" / "custom_prior.py")
    out = cp.main(cp.parse(["--tiny"]))
    flat, lit = out["default (box)"]["D"], out["D ~ N(0.6, 0.1) mJ/m²"]["D"]
    # Bayes' rule: a prior of sd 0.1 mJ/m² on a likelihood of sd ≈ 0.15–0.2 gives a posterior narrower
    # than the flat-prior posterior and, for a Gaussian likelihood, than the prior (sd < 0.1), with a mean
    # between the flat posterior's and 0.6. The example image sits where σ meets the box's edge, so the
    # likelihood in D is skewed, and --tiny's ~100 effective draws estimate an sd to ±7 %: 15 % slack.
    assert lit["sd"] < 0.1 * 1.15 and 0.1 < flat["sd"] + 0.05 and lit["sd"] < flat["sd"]
    assert abs(lit["mean"] - 0.6) <= abs(flat["mean"] - 0.6) + 0.02
    corr = out["σ correlated with D"]
    assert corr["D"]["hdi_low"] < corr["D"]["mean"] < corr["D"]["hdi_high"]


def test_model_comparison_example_ranks_models_by_evidence():
    mc = _module(ROOT / "examples" / "model_comparison.py")
    c = mc.main(mc.parse(["--tiny"]))
    ev = c.table["evidence"]
    assert set(ev) == {"σ free", "σ = 0.10", "σ = 0.18"}
    assert c.best == max(ev, key=lambda n: ev[n]["log_evidence"])
    assert all(bf["log_bayes_factor"] >= 0 for bf in c.table["bayes_factors"].values())


# ta_wedge_trend (~100 s) runs with -m slow: its example script runs in CI (test_ta_wedge_series_and_trend_run)
@pytest.mark.parametrize("name", ["first_estimate", pytest.param("ta_wedge_trend", marks=pytest.mark.slow),
                                  "priors_and_comparison"])
def test_notebook_runs_at_a_tiny_size(name, monkeypatch, tmp_path):
    monkeypatch.setenv("DOMAINFIT_TINY", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("DOMAINFIT_EXAMPLES", str(ROOT / "examples"))
    monkeypatch.chdir(tmp_path)  # what a notebook writes stays out of the checkout
    ns = vars(importlib.import_module(f"notebooks.{name}"))  # a notebook is its module's top-level code
    if name == "ta_wedge_trend":
        assert ns["lo"] < ns["slope"].mean() < ns["hi"]
        assert set(ns["cmp"]["evidence"]) == {"D constant", "D linear"}
        # with the DMI field of each position (10, 30, 51 mT read at D = 0.20, 0.58, 0.95) the trend is plain
        assert ns["cmp2"]["best"] == "D linear"
        assert ns["cmp2"]["bayes_factors"]["D constant"]["log_bayes_factor"] > 3
    if name == "priors_and_comparison":
        assert ns["informed"].report["posterior"]["D"]["sd"] < ns["flat"].report["posterior"]["D"]["sd"]
    if name == "first_estimate":
        assert ns["r"].report["posterior"]["D"]["hdi_low"] < ns["r"].report["posterior"]["D"]["hdi_high"]


def test_your_own_film_chain_runs_at_a_tiny_size(tmp_path, capsys):
    film = _module(ROOT / "examples" / "your_own_film.py")
    args = film.parse(["--tiny", "--work", str(tmp_path), "--Ms", "1100", "--Ku", "1.2", "--A", "20"])
    assert film.main(args) == 0
    printed = capsys.readouterr().out
    for stage in ("generate", "train", "calibrate", "emulator", "simulate", "estimate"):
        assert f"$ domainfit {stage}" in printed
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["model"]["path"].startswith(str(tmp_path))
    # the new model was trained on this film's constants, not the shipped co-pt ones
    meta = json.loads(next((tmp_path / "model").glob("*.json")).read_text())
    assert meta["ranges"]["Ms"] == [1.1e6, 1.1e6]
    assert "posterior" in report and report["posterior"]["D"]["hdi_low"] < report["posterior"]["D"]["hdi_high"]
    # the printed real-size commands are the ones documented
    real = film.commands(film.parse(["--work", "w"]))
    assert real[0][real[0].index("--count") + 1] == "10000" and "512" in real[0]
