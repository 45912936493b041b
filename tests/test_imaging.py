"""Images in physical units: loading and normalisation, the imaging model (render), resampling,
tiles, crops and the rot90/flip group — against exact area averages and analytic blur."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tifffile
from PIL import Image

from domainfit import imaging
from domainfit.errors import DomainfitError
from maze_helpers import synthetic_maze



def two_level(ny=48, nx=64, lo=50, hi=200, period=16):
    """Stripes of two grey levels (integers), period in pixels."""
    x = np.arange(nx)[None, :].repeat(ny, 0)
    return np.where((x // (period // 2)) % 2 == 0, hi, lo)


# --- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [8, 16])
def test_png_grey_8_and_16_bit_normalise_to_plus_minus_one(tmp_path, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    lo, hi = (50, 200) if bits == 8 else (1000, 60000)
    raw = two_level(lo=lo, hi=hi).astype(dtype)
    raw[0, 0] = (lo + hi) // 2  # one intermediate pixel, mapped linearly
    path = tmp_path / "stripes.png"
    Image.fromarray(raw).save(path)
    img = imaging.load(path, pixel_size=15.6e-9)
    assert img.data.dtype == np.float32 and img.shape == (48, 64)
    assert set(np.unique(img.data[1:])) == {-1.0, 1.0}
    assert img.data[0, 0] == pytest.approx(2 * ((lo + hi) // 2 - lo) / (hi - lo) - 1, abs=1e-6)
    assert img.meta["bit_depth"] == bits
    assert img.pixel_size == 15.6e-9
    assert img.field_of_view == pytest.approx((48 * 15.6e-9, 64 * 15.6e-9))


def test_rgb_and_jpeg_become_grey(tmp_path):
    grey = two_level().astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    a = imaging.load(tmp_path / "g.png", pixel_size=1e-8).data
    b = imaging.load(tmp_path / "rgb.png", pixel_size=1e-8).data
    np.testing.assert_allclose(a, b, atol=1e-6)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.jpg", quality=95)
    c = imaging.load(tmp_path / "rgb.jpg", pixel_size=1e-8)
    assert np.mean(np.sign(c.data) == np.sign(a)) > 0.98
    assert "grey" in c.meta["colour"]
    # What loading did is said (issue 15, defect 5): a lossy JPEG, a colour image turned grey; a
    # grey image stored as RGB (equal channels) and a PNG say nothing.
    assert any("JPEG" in n and "lossy" in n for n in c.notes)
    assert imaging.load(tmp_path / "rgb.png", pixel_size=1e-8).notes == ()
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    assert any("colour image" in n for n in imaging.load(tmp_path / "colour.png", pixel_size=1e-8).notes)


def test_a_domainfit_figure_is_not_read_as_data(tmp_path, capsys):
    # `simulate --png` writes a figure with axes and a colour bar; `inspect` and `estimate` read it
    # silently as a domain image (period 219 nm instead of 308). Figures carry a PNG text chunk and
    # loading refuses them in one line; the same pixels saved as a plain PNG still load.
    from domainfit.cli import main
    from domainfit.reports.plots import save_mz_png

    mz = synthetic_maze(64, 4e-9, 60e-9)
    save_mz_png(np.asarray(mz, np.float32), 4e-9, tmp_path / "fig.png")
    with pytest.raises(DomainfitError, match="figure written by domainfit"):
        imaging.load(tmp_path / "fig.png", pixel_size=4e-9)
    assert main(["inspect", str(tmp_path / "fig.png"), "--pixel-size", "4nm", "--no-figure"]) == 2
    err = capsys.readouterr().err
    assert "not a domain image" in err and err.count("\n") == 1
    pixels = np.asarray(Image.open(tmp_path / "fig.png").convert("L"))
    Image.fromarray(pixels).save(tmp_path / "plain.png")
    assert imaging.load(tmp_path / "plain.png", pixel_size=4e-9).shape == pixels.shape


def test_tiff_float_and_16_bit_with_resolution_tags(tmp_path):
    raw = two_level().astype(np.float32) * 0.01 - 1.0
    per_cm = 0.01 / 15.6e-9
    tifffile.imwrite(tmp_path / "f.tif", raw, resolution=(per_cm, per_cm), resolutionunit=3)
    img = imaging.load(tmp_path / "f.tif")
    assert img.pixel_size == pytest.approx(15.6e-9, rel=1e-6)
    assert img.meta["pixel_size_source"] == "TIFF resolution tags"
    assert set(np.unique(img.data)) == {-1.0, 1.0}
    # ImageJ style: ResolutionUnit none + unit 'micron'; 16-bit.
    tifffile.imwrite(tmp_path / "ij.tif", two_level(lo=100, hi=40000).astype(np.uint16), imagej=True,
                     resolution=(1 / 0.0156, 1 / 0.0156), metadata={"unit": "micron"})  # fmt: skip
    img = imaging.load(tmp_path / "ij.tif")
    assert img.pixel_size == pytest.approx(15.6e-9, rel=1e-6) and img.meta["bit_depth"] == 16
    # An explicit pixel size that contradicts the tags is refused (issue 35); forced, it wins, with a warning.
    with pytest.raises(DomainfitError, match="differs from ij.tif's own calibration"):
        imaging.load(tmp_path / "ij.tif", pixel_size=4e-9)
    forced = imaging.load(tmp_path / "ij.tif", pixel_size=4e-9, force=True)
    assert forced.pixel_size == 4e-9 and any("--force" in n for n in forced.notes)


def test_print_resolution_tag_is_not_a_calibration(tmp_path):
    tifffile.imwrite(tmp_path / "dpi.tif", two_level().astype(np.uint8), resolution=(72, 72), resolutionunit=2)
    with pytest.raises(DomainfitError, match="pixel size missing"):
        imaging.load(tmp_path / "dpi.tif")


def test_numpy_files_and_simulation_output(tmp_path):
    mz = synthetic_maze(64, 4e-9, 100e-9)
    np.save(tmp_path / "mz.npy", mz)
    img = imaging.load(tmp_path / "mz.npy", pixel_size=4e-9)
    assert img.shape == (64, 64)
    m = np.stack([np.zeros_like(mz), np.zeros_like(mz), mz])
    config = {"grid": {"nx": 64, "ny": 64, "cell_size_m": 4e-9, "thickness_m": 4e-9}}
    np.savez_compressed(tmp_path / "state.npz", m=m, config_json=json.dumps(config))
    sim = imaging.load(tmp_path / "state.npz")
    assert sim.pixel_size == 4e-9 and "m_z" in sim.meta["array"]
    np.testing.assert_allclose(sim.data, img.data)


@pytest.mark.parametrize("suffix", [".npz", ".tif"])
def test_save_load_round_trip_keeps_pixel_size(tmp_path, suffix):
    img = imaging.DomainImage(data=synthetic_maze(40, 5e-9, 80e-9, ny=56), pixel_size=5e-9, source="test")
    back = imaging.load(imaging.save(img, tmp_path / f"img{suffix}"), percentiles=(0, 100))
    assert back.pixel_size == pytest.approx(5e-9, rel=1e-6) and back.shape == (56, 40)
    lo, hi = img.data.min(), img.data.max()
    np.testing.assert_allclose(back.data, 2 * (img.data - lo) / (hi - lo) - 1, atol=1e-5)


def test_invert_flatten_binarise(tmp_path):
    base = two_level(ny=64, nx=96).astype(np.float64)
    y, x = np.mgrid[0:64, 0:96]
    tilted = base + 2.0 * x - 1.5 * y + 300.0  # a scan tilt larger than the domain contrast
    np.save(tmp_path / "t.npy", tilted)
    np.save(tmp_path / "b.npy", base)
    ref = imaging.load(tmp_path / "b.npy", pixel_size=1e-8).data
    # Least squares removes any added plane exactly: flattening the tilted image = flattening the base.
    flat = imaging.load(tmp_path / "t.npy", pixel_size=1e-8, flatten=1)
    np.testing.assert_allclose(flat.data, imaging.load(tmp_path / "b.npy", pixel_size=1e-8, flatten=1).data, atol=1e-5)
    assert np.mean(np.sign(flat.data) == np.sign(ref)) > 0.97
    assert np.mean(np.sign(imaging.load(tmp_path / "t.npy", pixel_size=1e-8).data) == np.sign(ref)) < 0.9
    inv = imaging.load(tmp_path / "b.npy", pixel_size=1e-8, invert=True)
    np.testing.assert_array_equal(inv.data, -ref)
    noisy = base + np.random.default_rng(0).normal(0, 20, base.shape)
    np.save(tmp_path / "n.npy", noisy)
    binary = imaging.load(tmp_path / "n.npy", pixel_size=1e-8, binarise=True)
    assert set(np.unique(binary.data)) == {-1.0, 1.0}
    assert np.mean(binary.data == ref) > 0.99


def test_percentiles_clip_hot_pixels(tmp_path):
    raw = two_level().astype(np.float64)
    raw[3, 5] = 1e6  # a glitch
    np.save(tmp_path / "hot.npy", raw)
    img = imaging.load(tmp_path / "hot.npy", pixel_size=1e-8)
    assert img.data[3, 5] == 1.0
    assert set(np.unique(np.delete(img.data.ravel(), 3 * 64 + 5))) == {-1.0, 1.0}


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"not an image at all" * 10), "cannot read"),
        (lambda p: np.save(p.with_suffix(".npy"), np.full((40, 40), np.nan)), "NaN or infinite"),
        (lambda p: np.save(p.with_suffix(".npy"), np.ones((40, 40))), "constant"),
        (lambda p: np.save(p.with_suffix(".npy"), np.random.rand(20, 40)), "at least 32 px"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros((0, 40))), "zero size"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, make, words):
    path = tmp_path / "bad.png"
    make(path)
    target = path if path.exists() else path.with_suffix(".npy")
    with pytest.raises(DomainfitError, match=words) as info:
        imaging.load(target, pixel_size=1e-8)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", [0.0, -1e-9, float("nan"), float("inf"), "15nm"])
def test_bad_pixel_size_through_the_api(tmp_path, bad):
    np.save(tmp_path / "ok.npy", two_level())
    with pytest.raises(DomainfitError, match="pixel size"):
        imaging.load(tmp_path / "ok.npy", pixel_size=bad)


# --- render --------------------------------------------------------------------------------------


def test_render_512_at_16nm_is_exact_area_averaging():
    mz = synthetic_maze(512, 4e-9, 380e-9)
    out = imaging.render(jnp.asarray(mz), 4e-9, pixel_size=16e-9)
    assert out.shape == (128, 128)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(imaging.area_average(mz, 4)))
    truth = mz.astype(np.float64).reshape(128, 4, 128, 4).mean(axis=(1, 3))  # independent: NumPy float64
    np.testing.assert_allclose(np.asarray(out), truth, atol=1e-6)
    # resample of the 4 nm render to 16 nm is the same image: render then resample round trip
    np.testing.assert_array_equal(np.asarray(imaging.resample(imaging.render(mz, 4e-9), 4e-9, 16e-9)), np.asarray(out))


def test_non_integer_resampling_is_exact_area_weighting(x64):
    """4 nm → 6 nm: the truth is the 2 nm common refinement (repeat ×2) averaged in 3×3 blocks."""
    rng = np.random.default_rng(1)
    mz = rng.uniform(-1, 1, (60, 48))
    fine = np.repeat(np.repeat(mz, 2, axis=0), 2, axis=1)
    truth = fine.reshape(40, 3, 32, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(np.asarray(imaging.resample(jnp.asarray(mz), 4e-9, 6e-9)), truth, atol=1e-13)
    np.testing.assert_allclose(np.asarray(imaging.render(jnp.asarray(mz), 4e-9, pixel_size=6e-9)), truth, atol=1e-13)
    # upsampling by a non-integer factor: 4 nm → 2.5 nm, area weights still conserve the mean
    up = imaging.resample(jnp.asarray(mz), 4e-9, 2.5e-9)
    assert up.shape == (96, 76)
    covered = (mz[:, :47].sum() + 0.5 * mz[:, 47].sum()) / (60 * 47.5)  # 76 × 2.5 nm = 47.5 cells
    assert float(jnp.mean(up)) == pytest.approx(covered, abs=1e-12)
    np.testing.assert_allclose(np.asarray(imaging.resample(jnp.asarray(mz), 4e-9, 2e-9)), fine)


def test_blur_matches_analytic_transfer_function(x64):
    n, cell, fwhm = 64, 4e-9, 30e-9
    x = np.arange(n) * cell
    period = 16 * cell
    wave = np.cos(2 * np.pi * x / period)[None, :].repeat(n, 0)
    out = imaging.render(jnp.asarray(wave), cell, blur_fwhm=fwhm)
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    np.testing.assert_allclose(np.asarray(out), np.exp(-2 * np.pi**2 * sigma**2 / period**2) * wave, atol=1e-12)


def test_render_contrast_offset_noise_and_field_of_view():
    mz = jnp.asarray(synthetic_maze(128, 4e-9, 150e-9))
    plain = imaging.render(mz, 4e-9, pixel_size=8e-9, field_of_view=(256e-9, 384e-9))
    assert plain.shape == (32, 48)
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(imaging.area_average(mz[:64, :96], 2)))
    scaled = imaging.render(mz, 4e-9, pixel_size=8e-9, field_of_view=(256e-9, 384e-9), contrast=0.5, offset=0.1)
    np.testing.assert_allclose(np.asarray(scaled), 0.5 * np.asarray(plain) + 0.1, atol=1e-6)
    noisy = imaging.render(mz, 4e-9, pixel_size=8e-9, noise=0.2, key=jax.random.key(0))
    clean = imaging.render(mz, 4e-9, pixel_size=8e-9)
    assert float(jnp.std(noisy - clean)) == pytest.approx(0.2, rel=0.05)
    again = imaging.render(mz, 4e-9, pixel_size=8e-9, noise=0.2, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(noisy), np.asarray(again))
    with pytest.raises(DomainfitError, match="random key"):
        imaging.render(mz, 4e-9, noise=0.1)
    with pytest.raises(DomainfitError, match="does not fit"):
        imaging.render(mz, 4e-9, field_of_view=1e-6)


def test_render_is_jit_vmap_and_grad_friendly(x64):
    mz = jnp.asarray(synthetic_maze(64, 4e-9, 100e-9), dtype=jnp.float64)

    @jax.jit
    def loss(mz, fwhm, contrast):
        return jnp.sum(imaging.render(mz, 4e-9, pixel_size=12e-9, blur_fwhm=fwhm, contrast=contrast) ** 3)

    g_m, g_w, g_c = jax.grad(loss, argnums=(0, 1, 2))(mz, 20e-9, 0.8)
    h = 1e-12
    fd_w = (loss(mz, 20e-9 + h, 0.8) - loss(mz, 20e-9 - h, 0.8)) / (2 * h)
    assert float(g_w) == pytest.approx(float(fd_w), rel=1e-5)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(mz.shape))
    fd_m = (loss(mz + 1e-6 * v, 20e-9, 0.8) - loss(mz - 1e-6 * v, 20e-9, 0.8)) / 2e-6
    assert float(jnp.vdot(g_m, v)) == pytest.approx(float(fd_m), rel=1e-6)
    batch = jax.vmap(lambda m: imaging.render(m, 4e-9, pixel_size=8e-9))(jnp.stack([mz, -mz]))
    assert batch.shape == (2, 32, 32)
    np.testing.assert_allclose(np.asarray(batch[1]), -np.asarray(batch[0]))


# --- scale handling -----------------------------------------------------------------------------


def test_tiles_cover_the_image():
    image = jnp.arange(100 * 70, dtype=jnp.float32).reshape(100, 70)
    t = imaging.tiles(image, 10e-9, 250e-9)  # 25 px: 4 × 3 tiles, x starts 0, 22, 45
    assert t.shape == (12, 25, 25)
    np.testing.assert_array_equal(np.asarray(t[0]), np.asarray(image[:25, :25]))
    np.testing.assert_array_equal(np.asarray(t[-1]), np.asarray(image[75:, 45:]))
    covered = np.zeros((100, 70), bool)
    for y in (0, 25, 50, 75):
        for x in (0, 22, 45):
            covered[y : y + 25, x : x + 25] = True
    assert covered.all()
    assert imaging.tiles(image, 10e-9, (500e-9, 350e-9)).shape == (4, 50, 35)


def test_random_crop_is_an_exact_area_average_of_some_window():
    mz = synthetic_maze(128, 4e-9, 150e-9)
    crop = np.asarray(imaging.random_crop(mz, 4e-9, field_of_view=256e-9, out_pixels=32, key=jax.random.key(3)))
    assert crop.shape == (32, 32)
    # every 64 × 64 window averaged in 2 × 2 blocks (NumPy): the crop must be one of them
    pairs = mz.astype(np.float64)
    candidates = [pairs[y : y + 64, x : x + 64].reshape(32, 2, 32, 2).mean(axis=(1, 3)) for y in range(65) for x in range(65)]
    assert min(np.abs(c - crop).max() for c in candidates) < 1e-5
    jitted = jax.jit(lambda fov, key: imaging.random_crop(mz, 4e-9, field_of_view=fov, out_pixels=16, key=key))
    assert jitted(0.3e-6, jax.random.key(0)).shape == (16, 16)


def test_multiscale_crops_span_the_requested_fields_of_view():
    mz = synthetic_maze(256, 8e-9, 200e-9)  # 2.048 µm
    sizes = []
    for i in range(20):
        crop, px = imaging.multiscale_crop(mz, 8e-9, out_pixels=32, key=jax.random.key(i))
        assert crop.shape == (32, 32) and bool(jnp.all(jnp.abs(crop) <= 1.0 + 1e-4))  # float32 weights
        sizes.append(float(px) * 32)
    assert 0.5e-6 <= min(sizes) and max(sizes) <= 2.0e-6 and max(sizes) / min(sizes) > 2


def test_dihedral_is_the_group_of_the_square():
    image = jnp.asarray(np.random.default_rng(0).standard_normal((5, 7)))
    elements = [np.asarray(imaging.dihedral(image, k)) for k in range(8)]
    np.testing.assert_array_equal(elements[0], image)
    assert len({e.tobytes() + bytes(e.shape) for e in elements}) == 8
    for k in range(8):  # each element has an inverse among them
        twice = [np.asarray(imaging.dihedral(jnp.asarray(elements[k]), j)) for j in range(8)]
        assert any(t.shape == image.shape and np.array_equal(t, image) for t in twice)
    with pytest.raises(DomainfitError):
        imaging.dihedral(image, 8)


def test_one_dihedral_serves_training_in_its_own_order_with_a_traced_element():
    """Training's draw k (rot90 by k mod 4, then a transpose for k ≥ 4: the order every shipped model
    drew in) is ``imaging.dihedral``'s element ``AUGMENT_ORDER[k]``, exactly, under jit too; an element
    chosen at run time needs a square image."""
    import jax

    from domainfit.data.augment import AUGMENT_ORDER, dihedral as augment_dihedral

    image = jnp.asarray(np.random.default_rng(5).standard_normal((7, 7)), jnp.float32)
    for k in range(8):
        want = np.rot90(np.asarray(image), k % 4)
        want = want.T if k >= 4 else want
        np.testing.assert_array_equal(np.asarray(jax.jit(augment_dihedral)(image, jnp.int32(k))), want)
        np.testing.assert_array_equal(np.asarray(imaging.dihedral(image, AUGMENT_ORDER[k])), want)
    with pytest.raises(DomainfitError, match="square"):
        jax.jit(imaging.dihedral)(jnp.zeros((4, 6)), jnp.int32(1))
