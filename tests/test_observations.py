"""The observation study of the D–σ degeneracy (studies/observations.py): its pieces against
independent computations, and the whole study at a tiny size."""

import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def obs():
    from studies import observations

    return observations


def test_half_field_interpolates_the_magnetisation_curve(obs):
    h = np.array([0.0, 10.0, 20.0, 30.0])
    assert obs.half_field(h, np.array([0.1, 0.3, 0.7, 0.9])) == pytest.approx(15.0)
    assert obs.half_field(h, np.array([0.6, 0.8, 0.9, 1.0])) == 0.0
    assert obs.half_field(h, np.array([0.0, 0.1, 0.2, 0.3])) == 30.0  # never half-saturated: the last field


def test_leave_one_out_ridge_equals_refitting_without_each_point(obs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = 1 + x[:, 0] - 0.5 * x[:, 1] ** 2 + 0.1 * rng.normal(size=30)
    rmse, lam = obs.loo_rmse(x, y, lams=(0.1,))
    xs = (x - x.mean(0)) / x.std(0)
    phi = obs._quadratic(xs)
    pen = 0.1 * np.eye(phi.shape[1])
    pen[0, 0] = 0
    errs = []
    for i in range(30):
        keep = np.arange(30) != i
        beta = np.linalg.solve(phi[keep].T @ phi[keep] + pen, phi[keep].T @ y[keep])
        errs.append(y[i] - phi[i] @ beta)
    assert lam == 0.1 and rmse == pytest.approx(math.sqrt(np.mean(np.square(errs))), rel=1e-8)
    # one group per row is the same as leave-one-out
    assert obs.loo_rmse(x, y, lams=(0.1,), groups=np.arange(30))[0] == pytest.approx(rmse, rel=1e-8)


def test_study_runs_at_a_tiny_size(obs, tmp_path):
    files = obs.main(["--films", "8", "--cells", "64", "--cache", str(tmp_path)])
    assert len(files) == 8 and all(f.exists() for f in files)
    film = dict(np.load(files[0]))
    assert film["curve_mz"][0] == pytest.approx(float(np.mean(film["demag_mz"].astype(np.float32))), abs=2e-3)
    assert np.all(np.diff(film["curve_mT"]) > 0)
    res = obs.main(["--cells", "64", "--cache", str(tmp_path), "--analyse", "--views", "1",
                    "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")])
    assert set(res["sets"]) == set(obs.SETS)
    for s in res["sets"].values():
        assert math.isfinite(s["D_rmse_mJ_m2"]) and math.isfinite(s["sigma_rmse"])
    assert (tmp_path / "r.png").stat().st_size > 5000
    # rerunning finds every film cached (resumable)
    again = obs.main(["--films", "8", "--cells", "64", "--cache", str(tmp_path)])
    assert again == files


def test_sensitivities_recover_a_linear_dependence(obs):
    rng = np.random.default_rng(3)
    films = []
    for k in range(12):
        D, s = rng.uniform(0.1e-3, 1e-3), rng.uniform(0.05, 0.2)
        h = np.array([0.0, 10.0, 20.0, 30.0, 50.0, 70.0, 100.0])
        h_half = 5 + 20 * D * 1e3 + 300 * s  # the curve crosses ½ there, linearly in D and σ
        mz = np.clip(0.5 + (h - h_half) / 200, -1, 1)
        z = np.zeros((8, 8), np.float16) + 1
        films.append({"D": D, "sigma": s, "demag_mz": z, "field_mz": [z], "fields_mT": [20.0],
                      "curve_mT": h, "curve_mz": mz, "remanence_mz": 1.0 - 0.2 * s})
    sens = obs.sensitivities(films)
    half = sens["H at <m_z> = 0.5 [mT]"]
    assert half["per_mJ_m2_of_D"] == pytest.approx(20, rel=1e-6) and half["per_unit_sigma"] == pytest.approx(300, rel=1e-6)
    assert half["residual_sd"] < 1e-6 and half["D_equivalent_of_sigma_mJ_m2"] == pytest.approx(15, rel=1e-6)
    rem = sens["<m_z> remanent after saturation"]
    assert rem["per_unit_sigma"] == pytest.approx(-0.2, rel=1e-6) and abs(rem["per_mJ_m2_of_D"]) < 1e-9


def test_pair_widths_follow_the_fisher_information_of_two_lines(obs):
    # wall density w = 3 D + 37 σ (sd 0.3) and an observable x = 1·D + 0·σ (sd 0.1): D from x alone to
    # 0.1, σ then from w to sqrt(0.3² + (3·0.1)²)/37; a parallel observable leaves D undetermined
    sens = {"wall density, demag [1/µm]": dict(per_mJ_m2_of_D=3.0, per_unit_sigma=37.0, residual_sd=0.3),
            "x": dict(per_mJ_m2_of_D=1.0, per_unit_sigma=0.0, residual_sd=0.1),
            "parallel": dict(per_mJ_m2_of_D=6.0, per_unit_sigma=74.0, residual_sd=0.3)}
    w = obs.pair_widths(sens)
    assert w["x"]["D_sd_mJ_m2"] == pytest.approx(0.1, rel=1e-9)
    assert w["x"]["sigma_sd"] == pytest.approx(math.hypot(0.3, 0.3) / 37, rel=1e-9)
    assert w["parallel"]["D_sd_mJ_m2"] > 1e3
