"""The CNN's pieces that need no training run: tiling and the combination of tiles, the scale
generalisation measure, the spread calibration's models, and the shipped model on the shipped examples."""

import numpy as np
import pytest

from domainfit.errors import DomainfitError
from domainfit.nn import estimate, load_default
from domainfit.nn.estimate import combine, make_tiles, tile_starts


def test_tiles_cover_the_image_and_combination_rules():
    assert tile_starts(64, 64) == [0] and tile_starts(40, 64) == [0] and tile_starts(150, 64) == [0, 43, 86]
    img = np.arange(150 * 40, dtype=np.float32).reshape(150, 40)
    t = make_tiles(img, 64)
    assert t.shape == (3, 64, 64) and (t[:, :, :12] == 0).all() and (t[:, :, 52:] == 0).all()
    np.testing.assert_array_equal(t[2, -1, 12:52], img[-1])
    mu = np.array([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2], [0.1, 0.2]])
    sd = np.full_like(mu, 0.2)
    m, s = combine(mu, sd, n_eff=4)
    np.testing.assert_allclose(m, [0.1, 0.2])
    np.testing.assert_allclose(s, 0.1)  # (0.2² / 4 equal tiles)^½
    m, s = combine(np.array([[0.0], [1.0]]), np.array([[0.1], [1.0]]), n_eff=1)
    assert m[0] == pytest.approx(1 / 101)  # precision weighting
    assert s[0] ** 2 == pytest.approx(1 / ((100 + 1) / 2) + (100 * (1 / 101) ** 2 + (100 / 101) ** 2) / 101)


def test_scale_generalisation_ratio_interpolates_in_log_field_of_view():
    from domainfit.nn.evaluate import scale_generalisation

    # Trained at 1 and 4 µm with RMSE 0.3 and 0.1: 2 µm sits half-way in log F, so its reference is 0.2.
    rmse = {1e-6: 0.3, 2e-6: 0.26, 4e-6: 0.1, 8e-6: 0.05}
    (g,) = scale_generalisation(rmse, trained=[1.0e-6, 4.002e-6])  # 8 µm: no trained scale above it
    assert g["field_of_view_um"] == pytest.approx(2.0) and g["interpolated_rmse"] == pytest.approx(0.2)
    assert g["ratio"] == pytest.approx(1.3)
    assert scale_generalisation(rmse, trained=[1e-6, 2e-6, 4e-6, 8e-6]) == []


def test_shipped_model_and_emulator_are_small_and_recover_the_example():
    # The default job: the shipped CNN, trained on instrument-recorded views, on the shipped examples —
    # one film it never saw (D = 0.712 mJ/m², σ = 0.195) as a clean 8 nm rendering, as m_z at its 4 nm
    # cells and as a simulated MFM scan. Its evaluation on recorded test images: docs/cnn.md.
    from importlib.resources import files

    from domainfit import imaging
    from domainfit.nn import emulator_paths

    loaded = load_default()
    assets = files("domainfit") / "assets"
    shipped = ("cnn_default.eqx", "cnn_default.json", "cnn_default.emulator.npz", "cnn_default.support.npz")
    total = sum((assets / f).stat().st_size for f in shipped)
    assert total < 10e6 and [p.name for p in emulator_paths(loaded.path)] == ["cnn_default.emulator.npz"]
    assert loaded.targets == ("D", "Ms", "sigma") and loaded.pixel_size == 16e-9 and loaded.in_pixels == 128
    assert loaded.instruments is not None and loaded.support_reference is not None and loaded.flatten == 2
    assert {"gaussian", "mfm", "probe"} <= set(loaded.calibrated_families)
    for name, shape, pixel in (("example", (256, 256), 8e-9), ("example-512", (512, 512), 4e-9),
                               ("example-mfm", (256, 256), 8e-9)):  # fmt: skip
        image = imaging.load(name, flatten=loaded.flatten)
        assert image.shape == shape and image.pixel_size == pixel
        est = estimate(loaded, image.data, image.pixel_size)
        assert est.trustworthy and est.fixed == ("Ms",) and est.mean["Ms"] == 1.5e6, (name, est.reasons)
        assert abs(est.mean["sigma"] - 0.1951) < 2 * est.sd["sigma"] and est.sd["sigma"] < 0.03, (name, est.mean, est.sd)
        assert abs(est.mean["D"] - 0.7124e-3) < 2 * est.sd["D"] and est.sd["D"] < 0.25e-3, (name, est.mean, est.sd)
    assert loaded.fill == "mirror" and set(loaded.meta["spread_calibration"]["factors"]) == {"D", "Ms", "sigma"}


def test_spread_factor_recovers_a_known_miscalibration():
    from domainfit.nn.calibrate import spread_factors

    rng = np.random.default_rng(1)
    z = rng.normal(size=(20_000, 2)) * np.array([2.0, 0.5])  # spreads predicted 2× too narrow, 2× too wide
    np.testing.assert_allclose(spread_factors(z, 0.9), [2.0, 0.5], rtol=0.03)
    np.testing.assert_allclose(spread_factors(z, 0.5), [2.0, 0.5], rtol=0.03)


def test_setting_model_recovers_how_the_spread_grows_with_the_instrument_settings():
    # Independent truth: standardised errors drawn with a known log-linear dependence of their
    # spread on the field of view and a probe's height and resolution. The fit must recover it, and
    # its intervals must hold 90 % of fresh draws at every height (a single factor cannot).
    from domainfit.nn.calibrate import fit_setting_model, setting_covariates

    rng = np.random.default_rng(5)
    n = 20_000
    fov = np.exp(rng.uniform(np.log(0.5e-6), np.log(2.048e-6), n))
    height = np.exp(rng.uniform(np.log(10e-9), np.log(80e-9), n))
    resolution = np.exp(rng.uniform(np.log(5e-9), np.log(60e-9), n))
    X = setting_covariates("probe", fov, {"height": height, "resolution": resolution})
    assert X.shape == (n, 4)
    np.testing.assert_allclose(X[:, 2], np.log(height / 30e-9))  # columns: 1, log F/1µm, log h/30nm, log r/20nm
    truth = np.array([0.1, -0.3, 0.5, 0.1])
    z = rng.normal(size=n) * np.exp(X @ truth)
    b, _ = fit_setting_model(z, X, 0.9)
    np.testing.assert_allclose(b[1:], truth[1:], atol=0.03)
    z_new = rng.normal(size=n) * np.exp(X @ truth)
    inside = np.abs(z_new) <= 1.6448536 * np.exp(X @ b)
    for lo, hi in ((10e-9, 20e-9), (20e-9, 45e-9), (45e-9, 80e-9)):
        band = (height >= lo) & (height < hi)
        assert inside[band].mean() == pytest.approx(0.9, abs=0.015)
        if lo != 20e-9:  # one factor for all heights misses at both ends
            single = np.abs(z_new[band]) <= np.quantile(np.abs(z), 0.9)
            assert abs(single.mean() - 0.9) > 0.03
    # Settings beyond the family's range are held at its edge, as fields of view beyond the calibrated ones.
    clipped = setting_covariates("probe", np.array([1e-6]), {"height": np.array([500e-9]), "resolution": np.array([1e-9])})
    np.testing.assert_allclose(clipped[0, 2:], [np.log(80 / 30), np.log(5 / 20)])


def test_named_instrument_settings_scale_the_spread_as_calibrated():
    # The shipped model's calibration carries a model of the probe's settings; estimate applies
    # exactly base(F) · exp(X b), and the family alone its field-of-view model.
    import math

    from domainfit import imaging
    from domainfit.nn.calibrate import setting_covariates

    loaded = load_default()
    record = loaded.meta["spread_calibration"]["per_family_settings"]["probe"]
    assert record["covariates"] == ["1", "log_field_of_view", "log_height", "log_resolution"]
    image = imaging.load("example", flatten=loaded.flatten)
    img, pixel = image.data, image.pixel_size
    plain = estimate(loaded, img, pixel)
    fov = math.sqrt(plain.field_of_view[0] * plain.field_of_view[1])
    low = estimate(loaded, img, pixel, family="probe", settings={"height": 10e-9, "resolution": 5e-9})
    high = estimate(loaded, img, pixel, family="probe", settings={"height": 80e-9, "resolution": 60e-9})
    family = estimate(loaded, img, pixel, family="probe")
    k = loaded.targets.index("sigma")
    for got, settings in ((low, (10e-9, 5e-9)), (high, (80e-9, 60e-9))):
        X = setting_covariates("probe", np.array([fov]), {"height": settings[0], "resolution": settings[1]})[0]
        expect = plain.sd["sigma"] * np.exp(np.dot(record["coefficients"]["sigma"], X))
        assert got.sd["sigma"] == pytest.approx(expect, rel=1e-6) and got.mean == plain.mean
    assert high.sd["sigma"] > 1.3 * low.sd["sigma"]  # a probe 80 nm up hides the wall roughness that carries σ
    X2 = np.array([1.0, math.log(fov / 1e-6)])
    assert family.sd["sigma"] == pytest.approx(plain.sd["sigma"] * np.exp(np.dot(record["marginal"]["sigma"], X2)), rel=1e-6)
    with pytest.raises(DomainfitError, match="family"):
        estimate(loaded, img, pixel, settings={"height": 10e-9})
