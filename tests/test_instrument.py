"""Instrument models against independent truths: measured point-spread widths, the stray field of a
uniformly magnetised square from its surface charges, MFM as finite height differences of that
field, detector stages, and the preprocessing that the network reads through."""

import math

import jax
import numpy as np
import pytest

from domainfit.data.instruments import BINARY, TRAINING, FAMILY_RANGES, draw_instrument
from domainfit.data.views import fit_canvas, recorded
from domainfit.errors import DomainfitError
from domainfit.imaging import Instrument, model_input, record
from domainfit.imaging._instrument import signal

CELL = 4e-9


def _delta(n=256):
    m = np.zeros((n, n), np.float32)
    m[n // 2, n // 2] = 1.0
    return m


def _measured_fwhm(profile: np.ndarray, step: float) -> float:
    """Full width at half maximum of a 1D peak, linear interpolation between samples."""
    p = profile / profile.max()
    c = int(np.argmax(p))
    right = c + np.nonzero(p[c:] < 0.5)[0][0]
    x_r = right - 1 + (p[right - 1] - 0.5) / (p[right - 1] - p[right])
    return 2 * (x_r - c) * step


@pytest.mark.parametrize("psf", ["gaussian", "lorentzian", "airy"])
def test_point_spread_functions_have_the_stated_fwhm(psf):
    w = 40e-9
    img = np.asarray(signal(_delta(), CELL, Instrument(psf=psf, resolution=w)))
    fwhm = _measured_fwhm(img[128, :], CELL)
    assert abs(fwhm - w) < 0.06 * w, (psf, fwhm)


def test_lorentzian_psf_has_the_cauchy_tail_and_airy_its_first_zero():
    w = 24e-9
    lor = np.asarray(signal(_delta(512), CELL, Instrument(psf="lorentzian", resolution=w)))[256, 256:]
    gamma = w / (2 * math.sqrt(2 ** (2 / 3) - 1))
    r = np.arange(len(lor)) * CELL
    expected = (gamma**2 / (r**2 + gamma**2)) ** 1.5  # γ/[2π(r²+γ²)^{3/2}] normalised to its peak
    sel = (r > 2 * gamma) & (r < 10 * gamma)  # away from the periodic images of the grid
    assert np.allclose(lor[sel] / lor[0], expected[sel], rtol=0.05, atol=2e-4)
    airy = np.asarray(signal(_delta(512), CELL, Instrument(psf="airy", resolution=w)))[256, 256:]
    first_zero = np.argmin(airy[: int(2 * w / CELL)]) * CELL
    assert abs(first_zero - 1.1857 * w) < 1.5 * CELL  # 0.61 λ/NA with FWHM = 0.5145 λ/NA


def test_probe_field_of_a_square_domain_matches_its_surface_charges():
    """H_z/Ms on the axis above a uniformly magnetised 2a × 2a square of thickness t: the charge
    sheets +Ms (top) and −Ms (bottom) each give (σ/π) arctan(a²/(d√(2a² + d²)))."""
    n, a_cells, t = 512, 10, 4e-9
    m = np.full((n, n), 0.0, np.float32)
    m[n // 2 - a_cells : n // 2 + a_cells, n // 2 - a_cells : n // 2 + a_cells] = 1.0
    m -= m.mean()  # the k = 0 term is zero anyway; a zero-mean map keeps the periodic images neutral
    a = a_cells * CELL
    for h in (5e-9, 20e-9, 60e-9):
        img = np.asarray(signal(m, CELL, Instrument(transfer="probe", height=h), thickness=t))
        centre = 0.25 * img[n // 2 - 1 : n // 2 + 1, n // 2 - 1 : n // 2 + 1].sum()  # the axis between 4 cells

        def sheet(d):
            return math.atan(a * a / (d * math.sqrt(2 * a * a + d * d))) / math.pi

        expected = sheet(h) - sheet(h + t)
        assert abs(centre - expected) < 0.02 * expected, (h, centre, expected)


@pytest.mark.parametrize("order", [1, 2])
def test_mfm_signal_is_the_height_derivative_of_the_stray_field(order):
    rng = np.random.default_rng(0)
    m = np.sign(rng.normal(size=(64, 64))).repeat(4, 0).repeat(4, 1).astype(np.float32)
    h, dh = 30e-9, 0.25e-9

    def hz(height):
        return np.asarray(signal(m, CELL, Instrument(transfer="probe", height=height)), np.float64)

    mfm = np.asarray(signal(m, CELL, Instrument(transfer="mfm", height=h, mfm_order=order)), np.float64)
    if order == 1:
        fd = -(hz(h + dh) - hz(h - dh)) / (2 * dh)
    else:
        fd = (hz(h + dh) - 2 * hz(h) + hz(h - dh)) / dh**2
    assert np.allclose(mfm, fd, rtol=0, atol=2e-3 * np.abs(mfm).max())


def test_sampling_area_means_and_point_samples():
    m = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    area = np.asarray(signal(m, CELL, Instrument(pixel_size=4 * CELL)))
    assert np.allclose(area, m.reshape(16, 4, 16, 4).mean(axis=(1, 3)))
    point = np.asarray(signal(m, CELL, Instrument(pixel_size=4 * CELL, sampling="point")))
    assert np.array_equal(point, m[2::4, 2::4])


def test_detector_stages_binarise_quantise_and_add_stated_noise():
    rng = np.random.default_rng(1)
    m = np.tanh(3 * np.sin(np.arange(256) * 2 * np.pi / 40))[None, :].repeat(256, 0).astype(np.float32)
    m = m + 0.05 * rng.normal(size=m.shape).astype(np.float32)
    binary = np.asarray(record(m, CELL, Instrument(saturation=math.inf)))
    assert set(np.unique(binary)) <= {-1.0, 0.0, 1.0}
    q = np.asarray(record(m, CELL, Instrument(bits=8)))
    assert len(np.unique(q)) <= 256 and q.min() == 0 and q.max() == 255 and np.all(q == np.round(q))
    clean = np.asarray(record(m, CELL, Instrument()))
    noisy = np.asarray(record(m, CELL, Instrument(noise=0.2), key=jax.random.key(0)))
    assert abs(np.std(noisy - clean) - 0.2) < 0.01  # noise sd in units of the signal sd: SNR 5
    lines = np.asarray(record(m, CELL, Instrument(line_noise=0.3), key=jax.random.key(0))) - clean
    assert np.allclose(lines, lines[:, :1], atol=1e-5) and abs(np.std(lines[:, 0]) - 0.3) < 0.05
    with pytest.raises(DomainfitError, match="random key"):
        record(m, CELL, Instrument(noise=0.1))


def test_bad_instrument_settings_are_refused():
    with pytest.raises(DomainfitError, match="transfer"):
        Instrument(transfer="sem")
    with pytest.raises(DomainfitError, match="FWHM"):
        Instrument(psf="gaussian")
    with pytest.raises(DomainfitError, match="noise"):
        Instrument(noise=-0.1)


def test_model_input_removes_any_quadratic_background_exactly_and_nearly_idempotent():
    rng = np.random.default_rng(2)
    u = np.tanh(3 * rng.normal(size=(128, 128))).astype(np.float64)
    y, x = np.mgrid[-1:1:128j, -1:1:128j]
    tilted = u + 0.7 * x - 0.4 * y + 0.3 * x * y - 0.5 * y**2
    a = model_input(u, 8e-9, 16e-9)
    b = model_input(tilted, 8e-9, 16e-9)
    assert a.shape == (64, 64) and np.allclose(a, b, atol=1e-5)
    once = model_input(u, 16e-9, 16e-9)
    # the second pass fits only what the 1 %/99 % clipping of the first left (not exactly zero)
    assert np.abs(model_input(once, 16e-9, 16e-9) - once).max() < 3e-3


def test_recorded_views_are_reproducible_and_families_cover_their_ranges():
    rng = np.random.default_rng(3)
    m = np.sign(rng.normal(size=(32, 32))).repeat(4, 0).repeat(4, 1).astype(np.float32)
    inst = draw_instrument(TRAINING, np.random.default_rng([5, 7]))
    a = recorded(m, CELL, 4e-9, inst, [1, 2])
    b = recorded(m, CELL, 4e-9, inst, [1, 2])
    c = recorded(m, CELL, 4e-9, inst, [1, 3])
    assert np.array_equal(a, b) and np.all(np.isfinite(a))
    assert a.shape == (int(128 * CELL / inst.pixel_size + 1e-6),) * 2
    assert (inst.noise == 0 and inst.line_noise == 0) or not np.array_equal(a, c)  # the seed drives the noise
    for fam, ranges in FAMILY_RANGES.items():
        for s in range(5):
            d = draw_instrument(TRAINING, np.random.default_rng([fam.encode()[0], s]), family=fam).describe()
            for key, (lo, hi) in ranges.items():
                value = d["height_nm" if key == "height" else "resolution_nm"]
                assert lo - 1e-9 <= value <= hi + 1e-9
    binary = draw_instrument(BINARY, np.random.default_rng(0))
    assert binary.name == "binary" and binary.noise == 0 and math.isinf(binary.saturation)


def test_fit_canvas_mirrors_short_axes():
    img = np.arange(12.0).reshape(3, 4)
    out = fit_canvas(img, 6)
    assert np.array_equal(out, np.pad(img, ((0, 3), (0, 2)), mode="symmetric"))
