"""The example scripts run end to end at a tiny size (the real-size runs: docs/examples.md)."""

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TA = ROOT / "examples" / "ta_wedge"


def _module(path: Path):
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(path.parent))


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
        assert float(r["mu0_H_DMI_mT"]) == pytest.approx(float(t["D_mJ_m2"]) * 1e-3 / (1.5e6 * delta) * 1e3, abs=2e-3)
        assert float(r["D_ref_err_mJ_m2"]) > 0
    d = np.array([float(t["D_mJ_m2"]) for t in truth if t["series"] == "wedge"])
    s = np.array([float(t["sigma"]) for t in truth if t["series"] == "wedge"])
    assert np.all(np.diff(d) > 0) and np.all(np.diff(s) < 0)  # D rises, σ falls along the wedge
    assert all(float(t["D_mJ_m2"]) == 0.55 for t in truth if t["series"] == "control")


def test_ta_wedge_series_and_trend_run(wedge_data, tmp_path):
    est = _module(TA / "estimate_series.py")
    rows = est.main(est.parse(["--tiny", "--data", str(wedge_data), "--out", str(tmp_path), "--series", "wedge",
                               "--first", "3"]))
    assert len(rows) == 3
    for r in rows:
        for p in ("D", "sigma"):
            assert r[f"{p}_hdi_low"] <= r[f"{p}_mean"] <= r[f"{p}_hdi_high"]
    assert (tmp_path / "series.png").stat().st_size > 10_000
    trend = _module(TA / "trend.py")
    (res,) = trend.main(trend.parse(["--tiny", "--out", str(tmp_path)]))
    assert res["series"] == "wedge" and len(res["evidence"]) == 4
    assert all(math.isfinite(e["log_evidence"]) and e["error"] >= 0 for e in res["evidence"].values())
    for p in ("D", "sigma"):
        s = res["slopes"][p]
        assert s["hdi_low"] < s["mean"] < s["hdi_high"]
        assert math.isfinite(res["bayes_factors"][p]["linear_vs_constant_averaged"])
    saved = json.loads((tmp_path / "trend.json").read_text())
    assert saved[0]["best"] in res["evidence"]
    assert (tmp_path / "trend.png").stat().st_size > 10_000
