"""Nothing that is not a domain image is trusted (features.domain_likeness, issue 35): text, drawings,
figures, regular and aligned patterns, textures and colour maps are flagged, each by its own check,
while the shipped example and its instrument renderings pass."""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from domainfit import imaging
from domainfit.features import domain_likeness as dl
from domainfit.features.domain_likeness import colour_notice, measure, notices

N = 256
PIXEL = 8e-9


def loaded(raw: np.ndarray) -> np.ndarray:
    """A grey image as ``estimate`` reads it (flattened, contrast normalised)."""
    return imaging.from_array(np.asarray(raw, np.float64), PIXEL, flatten=2).data


def codes(raw: np.ndarray) -> set[str]:
    return {n.code for n in notices(measure(loaded(raw)))}


def example_renderings() -> dict[str, np.ndarray]:
    """The shipped example and the 4 nm state behind it recorded by Kerr-, MFM- and probe-like
    instruments and binarised (256² px at 8 nm)."""
    import jax

    mz = imaging.load("example-512").data  # the example's film at its 4 nm cells, contrast ±1
    kinds = {"kerr": imaging.Instrument(psf="gaussian", resolution=20e-9, noise=0.2, bits=8, pixel_size=PIXEL),
             "mfm": imaging.Instrument(transfer="mfm", height=20e-9, noise=0.1, pixel_size=PIXEL),
             "probe": imaging.Instrument(transfer="probe", height=40e-9, psf="gaussian", resolution=20e-9, noise=0.05,
                                         line_noise=0.1, background=(0.5, -0.3), pixel_size=PIXEL),
             "binarised": imaging.Instrument(saturation=math.inf, pixel_size=PIXEL)}
    out = {"example": imaging.load("example").data}
    for i, (name, inst) in enumerate(kinds.items()):
        out[name] = np.asarray(imaging.record(jax.numpy.asarray(mz), 4e-9, inst, thickness=4e-9, key=jax.random.key(i)))
    return out


def test_the_example_and_its_instrument_renderings_pass():
    for name, raw in example_renderings().items():
        m = measure(loaded(raw))
        assert notices(m) == [], (name, m)
    # scan-line offsets stronger than the domains: most power on the axis kx = 0, but white along it
    lines = imaging.load("example").data + 2.0 * np.random.default_rng(0).normal(size=(N, 1))
    m = measure(loaded(lines))
    assert m.axis_share > dl.AXIS_LIMIT and notices(m) == [], m


def text_page(scanned: bool = False, size: int = 13) -> np.ndarray:
    img = Image.new("L", (N, N), 255)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(size)
    words = "domain wall energy exchange anisotropy film period maze Kerr force microscopy the of and".split()
    for y in range(8, N - 16, int(1.4 * size)):
        d.text((8, y), " ".join(rng.choice(words, 12)), fill=0, font_size=size)
    a = np.asarray(img, np.float64)
    if scanned:  # a photographed page: blurred, noisy, unevenly lit
        yy, xx = np.mgrid[0:N, 0:N] / N
        a = 0.75 * ndimage.gaussian_filter(a, 0.8) + 40 * (xx + 0.5 * yy) + rng.normal(0, 6, a.shape)
    return np.clip(a, 0, 255)


def test_text_drawings_and_figures_are_flagged_by_their_flat_background():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.56, 2.56), dpi=100)
    ax = fig.subplots()
    x = np.linspace(0, 10, 100)
    ax.plot(x, np.sin(x), "k")
    ax.set(xlabel="field [mT]", ylabel="M / Ms")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    plot = np.asarray(canvas.buffer_rgba())[..., :3].mean(-1)
    img = Image.new("L", (N, N), 255)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(1)
    for _ in range(30):
        d.line([tuple(int(v) for v in rng.integers(0, N, 2)) for _ in range(3)], fill=0, width=2)
    for name, raw in {"text": text_page(), "figure": plot, "drawing": np.asarray(img)}.items():
        m = measure(loaded(raw))
        assert m.uniform_share > dl.UNIFORM_LIMIT, name
        assert dl.UNIFORM_BACKGROUND in codes(raw), name
    # a binarised maze is as flat, but in both of its shades alike
    binary = np.sign(imaging.load("example").data)
    assert measure(binary).uniform_share < 0.1 and dl.UNIFORM_BACKGROUND not in codes(binary)


def test_lines_of_text_without_a_flat_page_are_flagged_as_aligned():
    raw = text_page(scanned=True, size=11)
    m = measure(loaded(raw))
    assert m.uniform_share < dl.UNIFORM_LIMIT  # noise: no flat page left
    assert m.anisotropy > dl.ANISOTROPY_LIMIT
    assert dl.ALIGNED_PATTERN in codes(raw)
    # aligned stripes with random phases (a film's stripes after an in-plane field): the sign of a
    # band-limited field within ±10° of one direction is flagged too (here as regular: its power fills a
    # ninth of the ring)
    ky, kx = np.fft.fftfreq(N)[:, None], np.fft.fftfreq(N)[None, :]
    k, off = np.hypot(kx, ky), np.arctan2(ky, kx) - math.radians(30)
    wedge = (k > 0.035) & (k < 0.065) & (np.abs(np.sin(off)) < math.sin(math.radians(10)))
    stripes = np.sign(np.real(np.fft.ifft2(np.fft.fft2(np.random.default_rng(2).normal(size=(N, N))) * wedge)))
    assert codes(stripes) & {dl.ALIGNED_PATTERN, dl.REGULAR_PATTERN}


def test_gratings_checkerboards_and_targets_are_flagged_as_regular():
    yy, xx = np.mgrid[0:N, 0:N].astype(float)
    rng = np.random.default_rng(3)
    u = (xx + yy) / math.sqrt(2)
    patterns = {
        "diagonal sine + noise": np.sin(2 * np.pi * u / 21.0) + 0.3 * rng.normal(size=(N, N)),
        "straight square": np.sign(np.sin(2 * np.pi * xx / 18.0)),
        "checkerboard": np.sign(np.sin(2 * np.pi * xx / 24.0) * np.sin(2 * np.pi * yy / 24.0)),
        "target": np.sign(np.sin(2 * np.pi * np.hypot(xx - N / 2, yy - N / 2) / 25.0)),
    }
    for name, raw in patterns.items():
        assert dl.REGULAR_PATTERN in codes(raw), name


def power_law_noise(beta: float, seed: int = 0) -> np.ndarray:
    k = np.hypot(np.fft.fftfreq(N)[:, None], np.fft.fftfreq(N)[None, :])
    k[0, 0] = 1.0
    f = np.fft.fft2(np.random.default_rng(seed).normal(size=(N, N))) * k ** (-beta / 2)
    f[0, 0] = 0
    return np.real(np.fft.ifft2(f))


def test_textures_of_many_length_scales_are_flagged():
    yy, xx = np.mgrid[0:N, 0:N]
    rng = np.random.default_rng(4)
    centres = rng.uniform(0, N, (80, 2))
    nearest = np.argmin((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2, axis=-1)
    textures = {f"1/f^{b} noise": power_law_noise(b) for b in (1.5, 2.0, 2.5)}
    textures["Voronoi cells"] = rng.uniform(0, 1, 80)[nearest] + 0.03 * rng.normal(size=(N, N))
    for name, raw in textures.items():
        m = measure(loaded(raw))
        assert m.spectral_width > dl.WIDTH_LIMIT or m.two_level < dl.WIDTH_TWO_LEVEL[1], name
        assert dl.TEXTURE in codes(raw), name


def test_measures_against_their_analytic_values():
    rng = np.random.default_rng(5)
    # white noise: exponentially distributed mode powers, participation ratio n/2, isotropic
    m = measure(rng.normal(size=(N, N)))
    assert m.regularity == pytest.approx(0.5, abs=0.03)
    assert m.anisotropy < 5  # Exp(1) under isotropy
    assert m.uniform_share == 0 and m.axis_share == pytest.approx(1 / N, rel=0.3)  # one of N lines of modes
    assert m.axis_regularity == pytest.approx(0.5, abs=0.15)  # scan-line offsets: white along the axis
    # a Gaussian random field of one band: Otsu's share of a Gaussian is 2/π; its sign is two-level
    k = np.hypot(np.fft.fftfreq(N)[:, None], np.fft.fftfreq(N)[None, :])
    band = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(N, N))) * ((k > 0.04) & (k < 0.08))))
    assert measure(band).two_level == pytest.approx(2 / math.pi, abs=0.03)
    # its sign is two-level but for the walls the smoothing (period/16) greys; white noise as strong as the
    # contrast is taken out of the variance (the floor beyond 0.35 cycles per pixel), not read as levels
    clean = measure(np.sign(band)).two_level
    assert 0.85 < clean <= 1.0
    assert measure(np.sign(band) + rng.normal(0, 1.0, (N, N))).two_level == pytest.approx(clean, abs=0.1)  # uncorrected: 0.74
    assert measure(band).spectral_width < measure(power_law_noise(2.0)).spectral_width - 0.4


def save_rgb(path, rgb: np.ndarray):
    Image.fromarray(np.round(255 * np.clip(rgb, 0, 1)).astype(np.uint8)).save(path)
    return path


def test_colour_maps_are_flagged_but_grey_or_tinted_files_are_not(tmp_path):
    import matplotlib

    u = (imaging.load("example").data + 1) / 2
    for cmap in ("RdBu", "viridis", "jet"):
        meta = imaging.load(save_rgb(tmp_path / f"{cmap}.png", matplotlib.colormaps[cmap](u)[..., :3]), pixel_size=PIXEL).meta
        notice = colour_notice(meta)
        assert notice is not None and notice.code == dl.COLOUR_MAP, cmap
    grey = save_rgb(tmp_path / "grey.png", np.repeat(u[..., None], 3, -1))
    tinted = save_rgb(tmp_path / "tinted.png", u[..., None] * np.array([0.35, 1.0, 0.45]))
    label = np.repeat(u[..., None], 3, -1)
    label[:8, :40] = (1.0, 0.9, 0.0)  # a yellow scale bar
    for path in (grey, tinted, save_rgb(tmp_path / "label.png", label)):
        assert colour_notice(imaging.load(path, pixel_size=PIXEL).meta) is None, path.name


def test_estimate_reports_the_reasons_with_their_codes(tmp_path):
    import matplotlib

    import domainfit as df

    u = (imaging.load("example").data + 1) / 2
    coloured = df.estimate(save_rgb(tmp_path / "jet.png", matplotlib.colormaps["jet"](u)[..., :3]), pixel_size="8nm")
    assert not coloured.trustworthy and dl.COLOUR_MAP in {getattr(r, "code", None) for r in coloured.cnn.reasons}
    Image.fromarray(text_page().astype(np.uint8)).save(tmp_path / "page.png")
    page = df.estimate(tmp_path / "page.png", pixel_size="8nm")
    assert not page.trustworthy and dl.UNIFORM_BACKGROUND in {getattr(r, "code", None) for r in page.cnn.reasons}
    assert page.report["support"]["domain_likeness"]["uniform_share"] > dl.UNIFORM_LIMIT
    example = df.estimate("example")
    assert example.trustworthy and example.report["support"]["domain_likeness"]["uniform_share"] < 0.01
