"""The CNN estimator: overfitting a tiny set, checkpoints (bit-identical reload, exact resume),
estimation on images of any size and pixel size, and evaluation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domainfit.data import Dataset
from domainfit.errors import DomainfitError
from domainfit.nn import estimate, evaluate, load_model, predict, train

from nn_helpers import tiny_config, write_synthetic_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return Dataset(write_synthetic_dataset(tmp_path_factory.mktemp("synthetic")))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset):
    out = tmp_path_factory.mktemp("run")
    return train(dataset, out, tiny_config(), progress=False)


def test_training_overfits_a_tiny_dataset(trained):
    mse = np.array(trained.mse)
    nll = np.array(trained.losses)
    assert len(mse) == 120
    assert mse[:3].mean() / mse[-10:].mean() >= 10, (mse[:3], mse[-10:])
    assert nll[-10:].mean() < nll[:3].mean() - 1.0  # the spread shrinks with the error
    assert np.isfinite(trained.step_time_s)


def test_reloaded_checkpoint_predicts_bit_identically(trained, dataset):
    loaded = load_model(trained.out)
    x = jnp.asarray(dataset.images())
    before = predict(trained.model, trained.state, x)
    after = predict(loaded.model, loaded.state, x)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    meta = loaded.meta
    assert meta["pixel_size"] == 4e-9 and meta["architecture"]["in_pixels"] == 64
    assert meta["training"]["data_hash"] == dataset.content_hash() and meta["training"]["steps"] == 120
    assert set(meta["normalisation"]) == {"D", "Ms", "sigma"} and meta["ranges"]["D"] == [0.0, 1e-3]
    assert meta["physics_version"] and meta["code_version"]
    # The last checkpoint is the same model.
    ck = load_model(sorted((trained.out / "checkpoints").iterdir())[-1] / "model.eqx")
    np.testing.assert_array_equal(np.asarray(predict(ck.model, ck.state, x)[0]), np.asarray(before[0]))


def test_interrupted_training_resumes_exactly(tmp_path, dataset, trained):
    out = tmp_path / "interrupted"
    first = train(dataset, out, tiny_config(), progress=False, until_step=60)
    assert first.steps == 60
    second = train(dataset, out, tiny_config(), progress=False)
    assert second.resumed_from == 60 and second.steps == 120
    np.testing.assert_array_equal(np.array(first.losses + second.losses), np.array(trained.losses))
    x = jnp.asarray(dataset.images())
    np.testing.assert_array_equal(
        np.asarray(predict(second.model, second.state, x)[0]), np.asarray(predict(trained.model, trained.state, x)[0])
    )


def test_training_on_instrument_views_resumes_exactly_and_reads_images_as_trained(tmp_path):
    # Every view is a state recorded by a random instrument and prepared as a user's image; the pool
    # is rendered once (kept in the run folder) and a resumed run is the uninterrupted one.
    from domainfit.data import TRAINING_INSTRUMENTS
    from domainfit.data.views import render_pool
    from domainfit.nn.training_set import crop_pixels as _crop_pixels

    ds = Dataset(write_synthetic_dataset(tmp_path / "mz", count=8, pixels=128, mz=True))
    cfg = tiny_config(steps=12, checkpoint_every=6, instruments=TRAINING_INSTRUMENTS, views=2, augment=True,
                      pixel_size=8e-9)
    whole = train(ds, tmp_path / "whole", cfg, progress=False)
    pools = list((tmp_path / "whole").glob("views-*.npy"))
    assert len(pools) == 1
    expected, families = render_pool(ds.mz(), ds.index, cell_size=4e-9, thickness=4e-9, prior=TRAINING_INSTRUMENTS,
                                     views=2, seed=0, pixel_size=8e-9, pixels=64)  # fmt: skip
    np.testing.assert_array_equal(np.load(pools[0]), expected)
    assert {f for fam in families for f in fam} <= {"ideal", "gaussian", "mfm", "probe"}
    assert _crop_pixels(cfg, (64, 64)) == (62, 64)  # 0.5 µm at 8 nm … the input
    first = train(ds, tmp_path / "parts", cfg, progress=False, until_step=6)
    second = train(ds, tmp_path / "parts", cfg, progress=False)
    np.testing.assert_array_equal(np.array(first.losses + second.losses), np.array(whole.losses))
    loaded = load_model(tmp_path / "whole")
    assert loaded.flatten == 2 and loaded.instruments == TRAINING_INSTRUMENTS
    # estimate prepares a user's image as the views were prepared: background removed, rescaled
    y, x = np.mgrid[-1:1:128j, -1:1:128j]
    image = ds.images([0])[0]
    a = estimate(loaded, image, 4e-9, symmetries=False)
    b = estimate(loaded, image + 0.8 * x - 0.5 * y**2, 4e-9, symmetries=False)
    assert a.mean == pytest.approx(b.mean, rel=1e-4)


def test_a_uniform_state_recorded_without_noise_is_a_mid_grey_view():
    # A low-ms state that coarsened to one domain, recorded by a clean instrument, has no contrast:
    # rendering the training pool raised "image is constant" and stopped training on the low-ms set.
    from domainfit.data.instruments import CLEAN as CLEAN_INSTRUMENTS
    from domainfit.data.views import render_pool

    mz = np.ones((2, 64, 64), np.float32)
    mz[1, :, 32:] = -1.0  # one state with walls beside the uniform one
    pool, families = render_pool(mz, np.arange(2), cell_size=4e-9, thickness=4e-9, prior=CLEAN_INSTRUMENTS,
                                 views=2, seed=0, pixel_size=8e-9, pixels=32)  # fmt: skip
    assert families == [["ideal", "ideal"], ["ideal", "ideal"]]
    np.testing.assert_array_equal(pool[0], 0.0)
    assert np.ptp(pool[1].astype(np.float32)) > 1.0  # the stripes keep their contrast


def test_other_settings_in_a_training_folder_are_refused(trained, dataset):
    with pytest.raises(DomainfitError, match="other settings"):
        train(dataset, trained.out, tiny_config(learning_rate=1e-2), progress=False)


def test_estimate_of_one_tile_is_the_network_output(trained, dataset):
    loaded = load_model(trained.out)
    image = dataset.images([3])[0]
    result = estimate(loaded, image, 4e-9)  # trained without augmentation: read once
    mu, log_sd = predict(loaded.model, loaded.state, jnp.asarray(image[None]))
    centre, scale = loaded.centre_scale()
    for k, t in enumerate(loaded.targets):
        assert result.mean[t] == pytest.approx(centre[k] + scale[k] * float(mu[0, k]), rel=1e-6)
        assert result.sd[t] == pytest.approx(scale[k] * float(np.exp(log_sd[0, k])), rel=1e-5)
    out = result.to_json()
    assert out["parameters"]["D"]["unit"] == "mJ/m^2" and out["parameters"]["Ms"]["unit"] == "kA/m"
    assert out["parameters"]["Ms"]["mean"] == pytest.approx(result.mean["Ms"] / 1e3)


def test_reading_the_16_symmetric_versions_makes_the_estimate_invariant(trained, dataset):
    # Rotations, reflections and m_z → −m_z cannot change the film's parameters. A trained net is only
    # nearly invariant; the estimate that reads all 16 versions of a tile must be exactly invariant,
    # and its spread must hold the scatter of the 16 readings (law of total variance).
    loaded = load_model(trained.out)
    image = dataset.images([5])[0][:, :48]  # not square: one tile centred on zeros
    versions = [np.rot90(image, r) for r in range(4)]
    versions += [v.T for v in versions]
    versions += [-v for v in versions]
    single = [estimate(loaded, v, 4e-9, symmetries=False) for v in versions]
    sym = [estimate(loaded, v, 4e-9, symmetries=True) for v in versions]  # this net trained without augmentation
    for t in ("D", "sigma"):
        singles = np.array([e.mean[t] for e in single])
        assert np.ptp(singles) > 1e-4 * np.abs(singles).max()  # the network alone is not invariant
        for e in sym[1:]:
            assert e.mean[t] == pytest.approx(sym[0].mean[t], rel=1e-5) and e.sd[t] == pytest.approx(sym[0].sd[t], rel=1e-5)
        assert sym[0].mean[t] == pytest.approx(singles.mean(), rel=1e-5)
        sds = np.array([e.sd[t] for e in single])
        assert sym[0].sd[t] == pytest.approx(np.sqrt(np.mean(sds**2) + np.var(singles)), rel=1e-5)


@pytest.mark.parametrize(
    "shape, pixel_nm, tiles",
    [
        ((200, 150), 4.0, 4 * 3),  # larger than a tile: ⌈200/64⌉ × ⌈150/64⌉ overlapping tiles
        ((100, 100), 6.0, 3 * 3),  # 6 nm → 150 px at 4 nm
        ((40, 40), 4.0, 1),  # smaller than a tile: centred on zeros
        ((128, 128), 2.0, 1),  # 2 nm → area average to 64 px
    ],
)
def test_estimate_works_for_any_size_and_pixel_size(trained, dataset, shape, pixel_nm, tiles):
    loaded = load_model(trained.out)
    rng = np.random.default_rng(0)
    image = np.tanh(3 * rng.normal(size=shape)).astype(np.float32)
    result = estimate(loaded, image, pixel_nm * 1e-9)
    assert result.tile_mean.shape == (tiles, 3)
    assert all(np.isfinite(result.mean[t]) and result.sd[t] > 0 for t in result.targets)
    assert result.field_of_view == pytest.approx((shape[0] * pixel_nm * 1e-9, shape[1] * pixel_nm * 1e-9))
    # Fields of view below those seen in training (here 0.256 µm) are flagged as extrapolation.
    small = min(shape) * pixel_nm < 256 - 1e-6
    assert any("field of view" in r for r in result.reasons) == small
    assert not small or not result.trustworthy


def test_resampling_before_tiling(trained, dataset):
    loaded = load_model(trained.out)
    fine = np.repeat(np.repeat(dataset.images([1])[0], 2, 0), 2, 1)  # the same pattern at 2 nm
    a = estimate(loaded, fine, 2e-9)
    b = estimate(loaded, dataset.images([1])[0], 4e-9)
    for t in a.targets:
        assert a.mean[t] == pytest.approx(b.mean[t], rel=1e-5, abs=1e-12)


def test_evaluate_reports_per_parameter_and_scale(trained, dataset, tmp_path):
    loaded = load_model(trained.out)
    report = evaluate(loaded, dataset, fields_of_view=(0.128e-6, 0.256e-6), plots=tmp_path / "plots")
    assert report["n_samples"] == 16
    for t in ("D", "Ms", "sigma"):
        entry = report["parameters"][t]
        assert {"unit", "rmse", "bias", "mean_sd", "coverage90", "per_field_of_view"} <= set(entry)
        assert set(entry["per_field_of_view"]) == {"0.128um", "0.256um"}
        assert entry["rmse"] >= abs(entry["bias"])
    # The whole-image numbers are those of estimate on each whole image (independent recomputation).
    from domainfit.data.prior import PARAMETERS

    ests = [estimate(loaded, img, dataset.image_pixel_size) for img in dataset.images()]
    for k, t in enumerate(("D", "Ms", "sigma")):
        col = PARAMETERS.index(t)
        err = np.array([e.mean[t] for e in ests]) - dataset.params[:, col]
        sd = np.array([e.sd[t] for e in ests])
        whole = report["parameters"][t]["per_field_of_view"]["0.256um"]
        assert whole["coverage90"] == pytest.approx(np.mean(np.abs(err) <= 1.6448536 * sd), abs=1e-9)
    # The full field of view is the training view: the overfitted net is accurate there.
    assert report["parameters"]["D"]["per_field_of_view"]["0.256um"]["rmse"] < 0.15
    assert sorted(p.split("/")[-1] for p in report["plots"]) == [f"set_vs_estimate_{t}.png" for t in ("D", "Ms", "sigma")]
    assert (tmp_path / "plots" / "set_vs_estimate_D.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(report)


def test_a_target_held_fixed_is_left_out_of_the_loss():
    from domainfit.nn.train import gaussian_nll

    rng = np.random.default_rng(0)
    z, mean = jnp.asarray(rng.normal(size=(8, 3))), jnp.asarray(rng.normal(size=(8, 3)))
    log_sd = jnp.asarray(rng.normal(size=(8, 3)))
    both = np.asarray(0.5 * ((z - mean) * jnp.exp(-log_sd)) ** 2 + log_sd)
    got = float(gaussian_nll(z, mean, log_sd, jnp.asarray([1.0, 0.0, 1.0])))
    assert got == pytest.approx(both[:, [0, 2]].mean(), rel=1e-6)
    # Shrinking the spread of the masked target around a perfect prediction changes nothing.
    log_sd2 = log_sd.at[:, 1].set(-50.0)
    assert float(gaussian_nll(z, mean, log_sd2, jnp.asarray([1.0, 0.0, 1.0]))) == pytest.approx(got, rel=1e-6)


def test_training_on_a_single_box_learns_only_what_varies(tmp_path):
    # Co/Pt-only data hold Ms at 1500 kA/m: training must stay finite, and the estimate reports Ms as
    # fixed (not estimated) while D and σ get a spread.
    # Trained with mirror filling, the model says so and estimation fills a small image the same way:
    # the estimate of a 20 × 30 px image is the network's reading of numpy.pad(mode="symmetric").
    ds = Dataset(write_synthetic_dataset(tmp_path / "copt", preset="co-pt"))
    report = train(ds, tmp_path / "run", tiny_config(steps=20, fill="mirror"), progress=False)
    assert np.isfinite(report.losses).all()
    loaded = load_model(report.out)
    est = estimate(loaded, ds.images([0])[0], ds.image_pixel_size)
    assert est.fixed == ("Ms",) and est.mean["Ms"] == 1.5e6 and est.sd["Ms"] == 0.0
    assert est.sd["D"] > 0 and est.sd["sigma"] > 0
    assert loaded.fill == "mirror" and load_model(report.out).meta["training"]["config"]["fill"] == "mirror"
    small = ds.images([1])[0][:20, :30]
    est = estimate(loaded, small, ds.image_pixel_size)
    mu, _ = predict(loaded.model, loaded.state, jnp.asarray(np.pad(small, ((22, 22), (17, 17)), mode="symmetric")[None]))
    centre, scale = loaded.centre_scale()
    assert est.mean["D"] == pytest.approx(centre[0] + scale[0] * float(mu[0, 0]), rel=1e-6)


def test_calibrated_spreads_hold_90pct_of_the_held_out_truths(trained, dataset, tmp_path):
    import shutil

    from domainfit.nn import calibrate_spread

    for suffix in (".eqx", ".json"):
        shutil.copy(trained.out / f"model{suffix}", tmp_path / f"model{suffix}")
    before = load_model(tmp_path / "model.eqx")
    fovs = (0.128e-6, 0.256e-6)
    raw = evaluate(before, dataset, fields_of_view=fovs)
    record = calibrate_spread(before, dataset, rows=np.arange(len(dataset)), fields_of_view=fovs)
    after = load_model(tmp_path / "model.eqx")  # the factors went into the model's JSON
    assert after.meta["spread_calibration"] == json.loads(json.dumps(record)) and record["rows"] == 16
    per = record["per_field_of_view"]
    assert per["fields_of_view_um"] == pytest.approx([0.128, 0.256])
    report = evaluate(after, dataset, fields_of_view=fovs)
    for t in ("D", "sigma"):
        assert raw["parameters"][t]["coverage90"] != pytest.approx(0.9, abs=0.02)  # it needed calibrating
        for i, key in enumerate(("0.128um", "0.256um")):  # each scale calibrated on its own 16 views
            got, was = report["parameters"][t]["per_field_of_view"][key], raw["parameters"][t]["per_field_of_view"][key]
            assert got["coverage90"] == pytest.approx(0.9, abs=1 / 16 + 1e-9)
            assert got["mean_sd"] == pytest.approx(was["mean_sd"] * per["factors"][t][i], rel=1e-6)
    # Between the calibrated scales the factor is interpolated in log F; beyond them it is held.
    d = after.targets.index("D")
    c = per["factors"]["D"]
    assert after.spread_scale(np.sqrt(0.128e-6 * 0.256e-6))[d] == pytest.approx(0.5 * (c[0] + c[1]))
    assert after.spread_scale(2e-6)[d] == pytest.approx(c[1]) and after.spread_scale(1e-8)[d] == pytest.approx(c[0])
    assert after.spread_scale()[d] == pytest.approx(record["factors"]["D"])
    image = dataset.images([2])[0]  # 64² px of 4 nm: 0.256 µm
    a, b = estimate(before, image, 4e-9), estimate(after, image, 4e-9)
    assert b.sd["D"] == pytest.approx(a.sd["D"] * c[1], rel=1e-6) and b.mean == a.mean


def test_precise_batch_norm_holds_the_mean_of_the_batch_statistics(dataset):
    # Independent truth: the first layer's batch statistics are plain means and variances of the
    # first convolution's output over each batch; inference must use their average over batches.
    import jax

    from domainfit.nn import make_model
    from domainfit.nn.train import _views, precise_batch_norm
    from domainfit.nn.training_set import crop_pixels as _crop_pixels

    cfg = tiny_config(augment=True, fov_set=(0.128e-6, 0.256e-6), batch_size=4)
    model, state = make_model(in_pixels=64, widths=cfg.widths, key=jax.random.key(3))
    images = dataset.images()
    rows = np.arange(len(images))
    crop = _crop_pixels(cfg, images.shape[1:])
    precise = precise_batch_norm(model, state, images, rows, cfg, crop, n_batches=3)
    means, variances = [], []
    for b in range(3):  # the same batches, drawn as precise_batch_norm draws them
        rng = np.random.default_rng([cfg.seed, 0x424E, b])
        r = rows[rng.integers(0, len(rows), cfg.batch_size)]
        u = rng.random((cfg.batch_size, 5), dtype=np.float32)
        x = np.asarray(jax.vmap(model.convs[0])(_views(jnp.asarray(images[r]), jnp.asarray(u), cfg, crop)[:, None]))
        means.append(x.mean(axis=(0, 2, 3)))
        variances.append(x.var(axis=(0, 2, 3)))
    bn = model.norms[0]
    counter = precise.get(bn.batch_counter)
    hidden_mean, hidden_var = precise.get(bn.batch_state_index)
    scale = 1 - bn.momentum ** float(counter)
    np.testing.assert_allclose(np.asarray(hidden_mean) / scale, np.mean(means, axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(hidden_var) / scale, np.mean(variances, axis=0), rtol=1e-3, atol=1e-6)


def test_beta_nll_weighs_the_mean_gradient_by_s_to_the_2beta():
    # ∂/∂μ of ½((z − μ)/s)² + log s is (μ − z)/s²; β-NLL multiplies each term by a constant s^{2β}.
    import jax

    from domainfit.nn.train import gaussian_nll

    rng = np.random.default_rng(2)
    z, mean, log_sd = (jnp.asarray(rng.normal(size=(6, 3))) for _ in range(3))
    for beta in (0.0, 0.5, 1.0):
        g_mean, g_log_sd = jax.grad(lambda m, l: gaussian_nll(z, m, l, None, beta), argnums=(0, 1))(mean, log_sd)
        s = np.exp(np.asarray(log_sd))
        np.testing.assert_allclose(np.asarray(g_mean), (np.asarray(mean - z)) / s ** (2 - 2 * beta) / z.size, rtol=1e-5)
        # The spread's stationary point stays s = |z − μ| for every β.
        np.testing.assert_allclose(np.asarray(g_log_sd), s ** (2 * beta) * (1 - (np.asarray(z - mean) / s) ** 2) / z.size, rtol=1e-5)


def test_frozen_batch_norm_phase_extends_a_finished_run_and_resumes_exactly(tmp_path, dataset):
    # steps 40 + 20 frozen in one go == 40 steps, then the same run extended by 20 frozen steps ==
    # interrupted inside the frozen phase and resumed; the frozen phase keeps the batch-norm state at
    # the precise statistics of the weights it started from.
    from domainfit.nn.train import precise_batch_norm
    from domainfit.nn.training_set import crop_pixels as _crop_pixels

    base = dict(steps=40, checkpoint_every=10)
    one = train(dataset, tmp_path / "one", tiny_config(**base, frozen_bn_steps=20), progress=False)
    main_only = train(dataset, tmp_path / "two", tiny_config(**base), progress=False)
    part = train(dataset, tmp_path / "two", tiny_config(**base, frozen_bn_steps=20), progress=False, until_step=50)
    rest = train(dataset, tmp_path / "two", tiny_config(**base, frozen_bn_steps=20), progress=False)
    assert (part.resumed_from, part.steps, rest.resumed_from, rest.steps) == (40, 50, 50, 60)
    np.testing.assert_array_equal(np.array(main_only.losses + part.losses + rest.losses), np.array(one.losses))
    x = jnp.asarray(dataset.images())
    a, b = load_model(tmp_path / "one"), load_model(tmp_path / "two")
    np.testing.assert_array_equal(np.asarray(predict(a.model, a.state, x)[0]), np.asarray(predict(b.model, b.state, x)[0]))
    cfg = tiny_config(**base)
    images = dataset.images()
    expected = precise_batch_norm(main_only.model, main_only.state, images, np.arange(len(images)), cfg,
                                  _crop_pixels(cfg, images.shape[1:]), n_batches=200)  # fmt: skip
    for got, want in zip(jax.tree_util.tree_leaves(a.state), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    with pytest.raises(DomainfitError, match="other settings"):  # a started frozen phase is part of the run
        train(dataset, tmp_path / "two", tiny_config(**base, frozen_bn_steps=30), progress=False)


def test_shipped_model_loads_and_reads_the_same_with_jax_enable_x64():
    # Users who turn on 64-bit JAX (common in micromagnetics) could not load the shipped model: the
    # deserialisation skeleton asked for float64 leaves of a float32 file. Run in a fresh process
    # (the flag is global); the estimate must equal the 32-bit one.
    import subprocess
    import sys

    code = ("import jax; jax.config.update('jax_enable_x64', {x64})\n"
            "from domainfit import nn, imaging\n"
            "m = nn.load_default(); im = imaging.load('example', flatten=m.flatten)\n"
            "e = nn.estimate(m, im.data, im.pixel_size); print(e.mean['D'], e.mean['sigma'], e.sd['D'])")
    out = {x64: subprocess.run([sys.executable, "-c", code.format(x64=x64)], capture_output=True, text=True, timeout=300)
           for x64 in (True, False)}  # fmt: skip
    assert out[True].returncode == 0, out[True].stderr[-2000:]
    np.testing.assert_allclose([float(v) for v in out[True].stdout.split()],
                               [float(v) for v in out[False].stdout.split()], rtol=1e-4)
