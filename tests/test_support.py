"""Support checks: images that cannot carry the answer are refused or flagged, never answered quietly,
and no input exhausts memory (the CLI under a 4 GB address-space cap)."""

import json
import math
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from domainfit.features import statistics as stats
from domainfit.errors import DomainfitError
from domainfit.nn import estimate, load_default
from domainfit.nn.support import (
    MAX_MODEL_PIXELS,
    MIN_PATTERN_CONTRAST,
    UNTRUSTWORTHY_EXIT,
    assess,
    check_size,
    fit_reference,
)
from domainfit.features.geometry import (
    domain_geometry,
    domain_sign,
    pattern_contrast,
    pattern_geometry,
    transition_width,
)

MAZE_PERIOD = 300e-9


def maze(n: int, pixel: float, period: float = MAZE_PERIOD, seed: int = 0) -> np.ndarray:
    """A ±1 maze of about ``period`` from band-limited noise (walls where the noise crosses 0)."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=(n, n)), period / (2 * math.pi * pixel) * 1.3, mode="wrap")
    return np.sign(field).astype(np.float32)


def test_pattern_geometry_equals_the_stats_estimators():
    x = maze(160, 16e-9)[:, :130]
    g = pattern_geometry(x, 16e-9)
    assert g["period"] == pytest.approx(float(stats.domain_period(jnp.asarray(x), 16e-9)), rel=1e-5)
    assert g["wall_density"] == pytest.approx(float(stats.wall_density(jnp.asarray(x), 16e-9, periodic=False)), rel=1e-6)
    assert pattern_geometry(np.ones((64, 64)), 16e-9) == {"period": math.inf, "wall_density": 0.0}


def test_domain_sign_reads_the_domains_where_the_image_is_weak_inside_them():
    # Micrometre domains whose image is strong only near the walls (the field over a thin film of a
    # wide domain, a blurred or noisy view): the plain sign counts every noise crossing inside the
    # domains as a wall; the domain sign keeps the pattern's own walls.
    from scipy.ndimage import distance_transform_edt

    pixel = 16e-9
    m = maze(256, pixel, period=1.2e-6, seed=3)
    truth = pattern_geometry(m, pixel)
    edge = (m != np.roll(m, 1, 0)) | (m != np.roll(m, 1, 1))
    near_wall = np.exp(-distance_transform_edt(~edge) * pixel / 40e-9)  # contrast within ~40 nm of a wall
    rng = np.random.default_rng(0)
    for noise in (0.05, 0.1):  # a strong noise pixel inside a domain would seed a cell of the wrong sign
        image = m * (0.05 + near_wall) + rng.normal(0, noise, m.shape)
        plain, domains = pattern_geometry(image, pixel), domain_geometry(image, pixel)
        assert plain["wall_density"] > 3 * truth["wall_density"]  # noise makes walls
        assert domains["wall_density"] == pytest.approx(truth["wall_density"], rel=0.15)
        assert domains["period"] == pytest.approx(truth["period"], rel=0.15)
        assert np.mean(domain_sign(image) == m) > 0.97
    # a clean or saturated image is its own sign, and a constant one has no walls
    assert np.array_equal(domain_sign(0.8 * m), m)
    assert domain_geometry(np.full((32, 32), 0.3), pixel) == {"period": math.inf, "wall_density": 0.0}


def test_transition_width_is_the_analytic_width_of_a_tanh_wall():
    # Stripes of period P with walls m = tanh(u/δ): |m| < ½ over 2δ·atanh(½) per wall, 2 walls per
    # period, and a wall length per area of 2/P: the width is 2δ·atanh(½) = 1.0986 δ, whatever P.
    pixel, period = 1e-9, 320e-9  # fine pixels: the discrete fraction of a 4 nm pixel is off by up to 10 %
    u = (np.arange(1600) + 0.5) * pixel
    for delta in (8e-9, 20e-9, 40e-9):
        phase = np.mod(u, period)
        walls = np.minimum(np.abs(phase - period / 4), np.abs(phase - 3 * period / 4))
        sign = np.where((phase > period / 4) & (phase < 3 * period / 4), 1.0, -1.0)
        profile = sign * np.tanh(walls / delta)
        image = np.tile(profile, (16, 1))
        # the isotropic estimator reads straight stripes (crossings along x only) as π/4 of 2/P
        assert pattern_geometry(image, pixel)["wall_density"] == pytest.approx(math.pi / 4 * 2 / period, rel=0.01)
        width = transition_width(image, 2 / period)
        assert width == pytest.approx(2 * delta * math.atanh(0.5), abs=pixel)  # whole pixels per wall
    assert transition_width(np.sign(image), 2 / period) == 0.0  # a binarised image: no transition pixels
    assert transition_width(np.ones((8, 8)), 0.0) == math.inf


def test_pattern_contrast_tells_a_maze_from_pixel_noise():
    # White noise has a flat spectrum: the ratio of mean power densities is 1 whatever the bands.
    rng = np.random.default_rng(3)
    for n in (64, 256):
        assert pattern_contrast(1.0 + 0.02 * rng.normal(size=(n, n))) == pytest.approx(1.0, abs=0.2)
    # A uniform film scanned with noise, per-line offsets and a tilted background: still noise only.
    scanned = 1.0 + 0.02 * rng.normal(size=(256, 256)) + 0.05 * rng.normal(size=(256, 1)) + 1e-3 * np.arange(256)
    assert pattern_contrast(scanned) < MIN_PATTERN_CONTRAST
    noisy_maze = maze(256, 8e-9) + 0.5 * rng.normal(size=(256, 256))  # SNR 2 per pixel
    assert pattern_contrast(noisy_maze) > 5 * MIN_PATTERN_CONTRAST
    reasons, measures = assess(pixel_size=8e-9, field_of_view=(2e-6, 2e-6), geometry=pattern_geometry(scanned, 8e-9),
                               trained_pixel_range=None, fov_min=None, reference=None, feature_score=None,
                               contrast=pattern_contrast(scanned))  # fmt: skip
    assert any("pixel noise" in r for r in reasons) and measures.pattern_contrast < MIN_PATTERN_CONTRAST


def test_coarse_pixels_and_huge_images_are_refused_before_allocation():
    for pixel in (100e-9, 200e-9, 1e-6, 1e-3):
        with pytest.raises(DomainfitError, match="too coarse"):
            check_size((256, 256), pixel, 16e-9)
    side = int(math.sqrt(MAX_MODEL_PIXELS)) + 1
    with pytest.raises(DomainfitError, match="crop a part"):
        check_size((side, side), 16e-9, 16e-9)
    check_size((2048, 2048), 16e-9, 16e-9)  # 32.8 µm at 16 nm: read


def test_feature_score_is_about_one_in_distribution_and_flags_what_is_far():
    rng = np.random.default_rng(0)
    cov_sqrt = rng.normal(size=(64, 64)) / 8
    train = rng.normal(size=(600, 64)) @ cov_sqrt.T + 3.0
    ref = fit_reference(train, np.full(600, 300e-9))
    held = rng.normal(size=(600, 64)) @ cov_sqrt.T + 3.0
    scores = ref.score(held)
    assert 0.85 < scores.mean() < 1.25  # Σ p²/λ + r²/λ_res over F dimensions of a Gaussian ≈ 1
    assert np.mean(scores > ref.limit) < 0.01
    far = held[0] + 6 * np.linalg.norm(cov_sqrt, axis=1)  # 6 sd off in every coordinate
    assert ref.score(far) > ref.limit


def _assess(image, pixel, **kw):
    return assess(pixel_size=pixel, field_of_view=(image.shape[0] * pixel, image.shape[1] * pixel),
                  geometry=pattern_geometry(image, 16e-9), trained_pixel_range=(4e-9, 24e-9), fov_min=0.5e-6,
                  reference=kw.get("reference"), feature_score=kw.get("score"))[0]  # fmt: skip


def test_assess_names_each_failure_in_words():
    assert _assess(maze(128, 16e-9), 16e-9) == []
    assert any("field of view" in r for r in _assess(maze(128, 16e-9)[:20, :20], 16e-9))
    assert any("no domain pattern" in r for r in _assess(np.ones((128, 128)), 16e-9))
    coarse = maze(128, 16e-9, period=80e-9)  # 5 px per period
    assert any("pixels per domain period" in r for r in _assess(coarse, 16e-9))
    assert any("coarser than any" in r for r in _assess(maze(128, 16e-9), 40e-9))
    ref = fit_reference(np.random.default_rng(1).normal(size=(64, 40)), np.array([150e-9, 400e-9] * 32))
    stripes = np.sign(np.sin(2 * np.pi * np.arange(512) * 16e-9 / 3e-6))[None, :].repeat(512, 0)  # 10× the period
    reasons = _assess(stripes, 16e-9, reference=ref)
    assert any("outside what the network was trained on" in r for r in reasons)
    assert any("almost no domain walls (0.58 per µm)" in r for r in reasons)  # straight walls read π/4 of their length


@pytest.fixture(scope="module")
def shipped():
    return load_default()


def test_shipped_model_flags_out_of_support_images(shipped):
    assert shipped.support_reference is not None and shipped.instruments is not None
    ok = estimate(shipped, maze(256, 8e-9, period=250e-9), 8e-9)
    stripes = np.sign(np.sin(2 * np.pi * np.arange(512) * 8e-9 / 3e-6))[None, :].repeat(512, 0).astype(np.float32)
    wide = estimate(shipped, stripes, 8e-9)
    assert not wide.trustworthy and any("period" in r or "unlike" in r for r in wide.reasons), wide.reasons
    flat = 0.02 * np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32) + 1.0  # one domain + noise
    uniform = estimate(shipped, flat, 8e-9)
    assert not uniform.trustworthy and any("pixel noise" in r for r in uniform.reasons), uniform.reasons
    small = estimate(shipped, maze(48, 8e-9, period=250e-9), 8e-9)  # 0.38 µm
    assert not small.trustworthy and any("field of view" in r for r in small.reasons)
    assert ok.support.pixels_per_period > 8
    # the measures are one record in SI; the report's block says the same numbers in nm and per µm
    m, block = ok.support, ok.to_json()["support"]
    assert m.period * 1e9 == pytest.approx(block["period_nm"]) and 150e-9 < m.period < 400e-9
    assert m.pixels_per_period == pytest.approx(m.period / 8e-9)
    assert m.wall_density * 1e-6 == pytest.approx(block["wall_density_per_um"])
    assert m.domains_wall_density * 1e-6 == pytest.approx(block["domains_wall_density_per_um"])
    assert block["feature_limit"] == m.feature_limit and block["pattern_contrast"] == m.pattern_contrast


def _capped(*args, tmp_path):
    """`domainfit estimate ARGS` with its address space capped at 4 GB (util-linux prlimit)."""
    return subprocess.run(["prlimit", f"--as={4 << 30}", sys.executable, "-m", "domainfit", "estimate", *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip


def test_cli_refuses_or_flags_out_of_support_images_under_a_4_gb_cap(tmp_path):
    for pixel in ("1mm", "1um", "100nm"):
        p = _capped("example", "--pixel-size", pixel, "--force", tmp_path=tmp_path)  # the example's own is 8 nm
        assert p.returncode == 2 and "too coarse" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    tif = tmp_path / "kerr.tif"  # a Kerr-microscope file whose tags say 1 µm per pixel
    tifffile.imwrite(tif, (maze(256, 1e-6, period=5e-6) * 1000 + 2000).astype(np.uint16), resolution=(1e4, 1e4),
                     resolutionunit="CENTIMETER")  # fmt: skip
    p = _capped(str(tif), tmp_path=tmp_path)
    assert p.returncode == 2 and "too coarse" in p.stderr, p.stderr
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(9000, 9000))
    big.flush()  # a sparse file: 81 megapixels announced by the header, never read
    del big
    p = _capped(str(tmp_path / "big.npy"), "--pixel-size", "8nm", tmp_path=tmp_path)
    assert p.returncode == 2 and "megapixels" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    np.save(tmp_path / "stripes.npy", np.sign(np.sin(2 * np.pi * np.arange(512) * 8e-9 / 3e-6))[None, :].repeat(512, 0))
    p = _capped(str(tmp_path / "stripes.npy"), "--pixel-size", "8nm", "--json", "-", tmp_path=tmp_path)
    report = json.loads(p.stdout)
    assert p.returncode == UNTRUSTWORTHY_EXIT and report["trustworthy"] is False and report["reasons"]
