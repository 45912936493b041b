"""studies/sign_geometry.py's summary: log ratios of the image's sign geometry to the film's."""

import sys

import numpy as np


def test_the_summary_reads_known_ratios_per_set_and_family():
    from studies import sign_geometry as bench

    rows = []
    for i in range(10):  # mfm doubles the wall density and halves the period; probe keeps both (±1 %)
        rows.append(dict(set="a", family="mfm", clean_wall_density_per_um=2.0, clean_period_nm=800.0,
                         image_wall_density_per_um=4.0 * (1.2 if i % 2 else 1 / 1.2), image_period_nm=400.0))
        rows.append(dict(set="a", family="probe", clean_wall_density_per_um=2.0, clean_period_nm=800.0,
                         image_wall_density_per_um=2.0 * (1.01 if i % 2 else 1 / 1.01), image_period_nm=800.0))
    t = bench.summarise(rows)["a"]
    assert np.isclose(t["mfm"]["log_wall_ratio_median"], np.log(2)) and np.isclose(t["mfm"]["log_wall_ratio_sd"], np.log(1.2))
    assert np.isclose(t["mfm"]["log_period_ratio_median"], -np.log(2)) and t["mfm"]["log_period_ratio_sd"] < 1e-12
    assert t["mfm"]["wall_density_off_by_2x"] == 0.5  # 2 × 1.2 is off by more than 2, 2 / 1.2 is not
    assert t["probe"]["wall_density_off_by_2x"] == 0.0 and abs(t["probe"]["log_wall_ratio_median"]) < 0.011
    assert t["all"]["n"] == 20 and np.isclose(t["all"]["wall_density_off_by_2x"], 0.25)
    assert "domainfit.data.splits" in sys.modules  # the held-out rows and stream are the set comparison's
