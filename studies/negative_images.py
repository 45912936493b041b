"""Images that are not domain images, made here (nothing downloaded): the negative set of
``studies.negative_set`` (issue 35, acceptance 2).

Each generator takes a NumPy generator and returns an image as 8-bit grey ``[h, w]`` or RGB
``[h, w, 3]`` (uint8), as a user's PNG would hold it. ``negatives()`` lists them all with their
category and a pixel size a user might have given.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CATEGORIES = ("text", "lines", "figure", "texture", "colour_map", "stripes", "gradient")

WORDS = ("the domain wall energy of a perpendicular film depends on the exchange stiffness anisotropy and "
         "the interfacial Dzyaloshinskii Moriya interaction which favours chiral Neel walls and lowers "
         "the period of the maze pattern observed by magnetic force microscopy or Kerr microscopy at remanence "
         "figure 3 shows the measured hysteresis loop and table 2 lists the fitted parameters with their "
         "uncertainties in units of millijoule per square metre").split()


def _font(name: str, size: int):
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _u8(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    x = (x - x.min()) / max(float(np.ptp(x)), 1e-12)
    return np.round(255 * x).astype(np.uint8)


def text(rng, *, font="DejaVuSans.ttf", size=14, shape=(384, 384), margin=24, invert=False, scanned=False):
    """A paragraph of words, black on white (``invert``: white on black); ``scanned``: blurred, with
    noise and an uneven illumination, as a photographed page."""
    from PIL import Image, ImageDraw

    h, w = shape
    img = Image.new("L", (w, h), 255)
    draw, f = ImageDraw.Draw(img), _font(font, size)
    y = margin
    while y + size < h - margin:
        line, x = [], margin
        while True:
            word = WORDS[int(rng.integers(len(WORDS)))]
            width = draw.textlength(word + " ", font=f)
            if x + width > w - margin:
                break
            line.append(word)
            x += width
        draw.text((margin, y), " ".join(line), fill=0, font=f)
        y += int(1.35 * size)
    a = np.asarray(img, np.float64)
    if invert:
        a = 255 - a
    if scanned:
        from scipy.ndimage import gaussian_filter

        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        a = 0.75 * gaussian_filter(a, 0.8) + 40 * (xx + 0.5 * yy) + rng.normal(0, 6, a.shape)
        return np.clip(a, 0, 255).astype(np.uint8)
    return a.astype(np.uint8)


def line_art(rng, *, shape=(384, 384), n=40, width=2, circuit=False, hatch=False):
    """Random polylines and circles (``circuit``: Manhattan traces with pads and vias; ``hatch``:
    shapes filled with parallel hatching)."""
    from PIL import Image, ImageDraw

    h, w = shape
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    for _ in range(n):
        if circuit:
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            pts = [(x, y)]
            for _ in range(int(rng.integers(2, 6))):
                if rng.random() < 0.5:
                    x = int(np.clip(x + rng.integers(-120, 120), 0, w))
                else:
                    y = int(np.clip(y + rng.integers(-120, 120), 0, h))
                pts.append((x, y))
            d.line(pts, fill=0, width=width)
            for px, py in (pts[0], pts[-1]):
                d.rectangle((px - 5, py - 5, px + 5, py + 5), fill=0)
                d.ellipse((px - 2, py - 2, px + 2, py + 2), fill=255)
        elif hatch:
            x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
            s = int(rng.integers(30, 100))
            d.rectangle((x0, y0, x0 + s, y0 + s), outline=0, width=width)
            step = int(rng.integers(4, 10))
            for k in range(0, 2 * s, step):
                d.line((x0 + max(0, k - s), y0 + min(k, s), x0 + min(k, s), y0 + max(0, k - s)), fill=0, width=1)
        elif rng.random() < 0.7:
            pts = [tuple(int(v) for v in rng.integers(0, (w, h))) for _ in range(int(rng.integers(2, 6)))]
            d.line(pts, fill=0, width=width)
        else:
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(5, 60))
            d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=0, width=width)
    return np.asarray(img, np.uint8)


def _figure_rgb(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def figure(rng, kind: str, example: np.ndarray | None = None) -> np.ndarray:
    """A matplotlib figure with axes, ticks, labels, legends or colour bars, as its PNG holds it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 3.6), dpi=100)
    ax = fig.subplots()
    x = np.linspace(0, 10, 200)
    if kind == "lines":
        for k in range(3):
            ax.plot(x, np.sin(x * (k + 1) / 2) + rng.normal(0, 0.05, x.size), label=f"series {k + 1}")
        ax.legend()
    elif kind == "grey_lines":
        for k, ls in enumerate(("-", "--", ":")):
            ax.plot(x, np.exp(-x / (k + 2)) + 0.02 * rng.normal(size=x.size), "k" + ls, label=f"T = {k + 2} K")
        ax.legend()
        ax.set(xlabel="field [mT]", ylabel="M / Ms")
    elif kind == "scatter":
        ax.scatter(rng.normal(size=200), rng.normal(size=200), s=8, c="k")
        ax.set(xlabel="D [mJ/m²]", ylabel="σ")
    elif kind == "histogram":
        ax.hist(rng.normal(size=2000), bins=40, color="0.4")
        ax.set(xlabel="period [nm]", ylabel="count")
    elif kind == "bars":
        ax.bar(range(8), rng.uniform(1, 5, 8), color="0.3", yerr=rng.uniform(0.1, 0.5, 8))
    elif kind == "contour":
        yy, xx = np.mgrid[-2:2:200j, -2:2:200j]
        cs = ax.contour(xx, yy, np.exp(-xx**2 - yy**2) + 0.5 * np.exp(-(xx - 1) ** 2 - (yy - 1) ** 2), colors="k")
        ax.clabel(cs, fontsize=7)
    elif kind == "image_colourbar":  # domainfit's own figure (reports.plots.image_figure) without its mark
        from domainfit.reports.plots import image_figure

        return _figure_rgb(image_figure(example, 8e-9, title="example"))
    elif kind == "image_colourbar_jet":
        im = ax.imshow(example, cmap="jet")
        fig.colorbar(im, ax=ax, label="phase [deg]")
    elif kind == "subplots":
        fig.clear()
        for k, a in enumerate(fig.subplots(2, 2).ravel()):
            a.plot(x, np.cos(x * (k + 1)), "k")
            a.set_title(f"({'abcd'[k]})", fontsize=8)
    elif kind == "errorbars":
        ax.errorbar(x[::10], np.sqrt(x[::10]), yerr=0.2, fmt="o", color="k", capsize=3)
        ax.grid(True)
    fig.tight_layout()
    return _figure_rgb(fig)


def power_law_noise(rng, shape=(384, 384), beta=2.0) -> np.ndarray:
    """Gaussian noise with a power spectrum ∝ 1/k^β (fractal, 'cloud' textures)."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.fftfreq(shape[1])[None, :]
    k = np.sqrt(kx**2 + ky**2)
    k[0, 0] = 1.0
    f = np.fft.fft2(rng.normal(size=shape)) * k ** (-beta / 2)
    f[0, 0] = 0.0
    return np.real(np.fft.ifft2(f))


def texture(rng, kind: str, shape=(384, 384)) -> np.ndarray:
    """Natural-looking textures: fractal noise, its threshold, clouds, Voronoi cells, cell walls,
    wood grain, sand and gravel."""
    from scipy import ndimage

    h, w = shape
    if kind.startswith("fractal_sign"):
        return _u8(power_law_noise(rng, shape, float(kind.split("_")[2])) > 0)
    if kind.startswith("fractal"):
        return _u8(power_law_noise(rng, shape, float(kind.split("_")[1])))
    if kind == "clouds":
        return _u8(np.exp(1.5 * power_law_noise(rng, shape, 3.0) / power_law_noise(rng, shape, 3.0).std()))
    if kind in ("voronoi", "cell_walls"):
        pts = rng.uniform(0, 1, (int(rng.integers(60, 200)), 2)) * (h, w)
        yy, xx = np.mgrid[0:h, 0:w]
        d = np.sqrt((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2)
        if kind == "voronoi":
            return _u8(rng.uniform(0, 1, len(pts))[np.argmin(d, axis=-1)] + rng.normal(0, 0.03, shape))
        d.sort(axis=-1)
        return _u8(np.minimum(d[..., 1] - d[..., 0], 6.0))  # Worley F2 − F1: bright cells, dark walls
    if kind == "wood":
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx = rng.uniform(-2, -1) * h, rng.uniform(0, 1) * w
        warp = 12 * ndimage.gaussian_filter(rng.normal(size=shape), 20) / 0.01
        r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) + np.clip(warp, -30, 30)
        return _u8(np.sin(2 * np.pi * r / rng.uniform(10, 25)) ** 2 + 0.2 * power_law_noise(rng, shape, 2.0) / 10)
    if kind in ("sand", "gravel"):
        a = np.full(shape, 0.5)
        n, (rlo, rhi) = (4000, (1.5, 5.0)) if kind == "sand" else (300, (4.0, 40.0))
        yy, xx = np.mgrid[0:h, 0:w]
        radii = np.exp(rng.uniform(math.log(rlo), math.log(rhi), n))
        for r in np.sort(radii)[::-1]:  # big stones first, small ones over them
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            y0, y1, x0, x1 = int(max(cy - r, 0)), int(min(cy + r + 1, h)), int(max(cx - r, 0)), int(min(cx + r + 1, w))
            sub = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 < r**2
            a[y0:y1, x0:x1][sub] = rng.uniform(0, 1)
        return _u8(ndimage.gaussian_filter(a, 0.7) + rng.normal(0, 0.02, shape))
    raise ValueError(kind)


def colour_mapped(image: np.ndarray, cmap: str) -> np.ndarray:
    """``image`` through a matplotlib colour map, as RGB uint8 (what 'save as PNG' of a plot's pixels gives)."""
    import matplotlib

    x = np.asarray(image, np.float64)
    lo, hi = np.quantile(x, [0.01, 0.99])
    rgb = matplotlib.colormaps[cmap](np.clip((x - lo) / (hi - lo), 0, 1))[..., :3]
    return np.round(255 * rgb).astype(np.uint8)


def stripes(rng, kind: str, pixel: float, shape=(384, 384)) -> np.ndarray:
    """Regular patterns at domain-like periods (100–300 nm at ``pixel`` [m]): stripes straight or
    diagonal, sine or square, checkerboards, concentric rings; some with noise or blur."""
    from scipy import ndimage

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] * pixel
    period = rng.uniform(100e-9, 300e-9)
    angle = {"straight": 0.0, "diagonal": math.pi / 4}.get(kind.split("_")[0], rng.uniform(0, math.pi))
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    if kind.startswith("checker"):
        a = np.sign(np.sin(2 * np.pi * u / period)) * np.sign(np.sin(2 * np.pi * v / period))
    elif kind.startswith("rings"):
        a = np.sign(np.sin(2 * np.pi * np.hypot(yy - yy.mean(), xx - xx.mean()) / period))
    elif "sine" in kind:
        a = np.sin(2 * np.pi * u / period)
    else:
        a = np.sign(np.sin(2 * np.pi * u / period))
    if "noisy" in kind:
        a = ndimage.gaussian_filter(a, 1.0) + rng.normal(0, 0.3, shape)
    return _u8(a)


def gradient(rng, kind: str, shape=(384, 384)) -> np.ndarray:
    """Smooth photo-like scenes: ramps, vignettes, a sky with soft clouds, out-of-focus blobs."""
    from scipy import ndimage

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    noise = rng.normal(0, 0.004, shape)
    if kind == "ramp":
        return _u8(xx * rng.uniform(0.5, 1) + yy * rng.uniform(0, 0.5) + noise)
    if kind == "vignette":
        return _u8(-((xx - 0.5) ** 2 + (yy - 0.45) ** 2) + noise)
    if kind == "sky":
        return _u8(yy + 0.15 * ndimage.gaussian_filter(rng.normal(size=shape), 25) / 0.01 * 0.02 + noise)
    if kind == "bokeh":
        a = np.zeros(shape)
        for _ in range(12):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
            a += rng.uniform(0.3, 1) * ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)
        return _u8(ndimage.gaussian_filter(a, 8) + 0.3 * xx + noise)
    if kind == "portrait":  # a soft oval 'face' before a graded background
        a = 0.4 * yy + 0.6 * (((xx - 0.5) / 0.22) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
        return _u8(ndimage.gaussian_filter(a, 6) + noise)
    if kind == "sunset":
        return _u8(np.exp(-((yy - 0.7) ** 2) / 0.05) + 0.2 * np.sin(3 * xx) + noise)
    raise ValueError(kind)


PIXELS_NM = (4.0, 8.0, 12.0, 16.0)
"""Pixel sizes a user is taken to give with a negative image, in turn [nm]."""


def negatives(seed: int = 0) -> list[tuple[str, str, np.ndarray, float]]:
    """Every negative image: (name, category, uint8 image [h, w] or [h, w, 3], pixel size [m])."""
    from domainfit.imaging import example_path, load

    example = load(example_path("example")).data
    example_512 = load(example_path("example-512")).data
    mfm = load(example_path("example-mfm"), flatten=1).data
    items: list[tuple[str, str, object]] = []
    fonts = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", "cmr10.ttf",
             "DejaVuSans-Bold.ttf", "DejaVuSerif-Italic.ttf", "cmss10.ttf")
    for k, font in enumerate(fonts):
        items.append((f"text_{k}", "text", lambda r, f=font, k=k: text(r, font=f, size=(10, 14, 18, 24)[k % 4],
                                                                        margin=(0, 24)[k % 2], invert=k == 5)))
    for k in range(3):
        items.append((f"text_scanned_{k}", "text", lambda r, k=k: text(r, size=(12, 16, 22)[k], scanned=True)))
    for k, opts in enumerate(({}, {"width": 1, "n": 80}, {"circuit": True}, {"circuit": True, "width": 3},
                              {"hatch": True, "n": 12}, {"n": 150, "width": 1}, {"circuit": True, "n": 80},
                              {"hatch": True, "n": 25})):
        items.append((f"lines_{k}", "lines", lambda r, o=opts: line_art(r, **o)))
    for kind in ("lines", "grey_lines", "scatter", "histogram", "bars", "contour", "image_colourbar",
                 "image_colourbar_jet", "subplots", "errorbars"):
        items.append((f"figure_{kind}", "figure", lambda r, kd=kind: figure(r, kd, example)))
    for kind in ("fractal_1.0", "fractal_1.5", "fractal_2.0", "fractal_2.5", "fractal_3.0", "clouds",
                 "fractal_sign_2.0", "fractal_sign_3.0", "voronoi", "cell_walls", "wood", "sand", "gravel"):
        items.append((f"texture_{kind}", "texture", lambda r, kd=kind: texture(r, kd)))
    for cmap in ("RdBu", "jet", "hsv", "viridis", "twilight", "coolwarm", "magma", "Spectral"):
        items.append((f"colour_{cmap}", "colour_map", lambda r, c=cmap: colour_mapped(example, c)))
    items.append(("colour_jet_mfm", "colour_map", lambda r: colour_mapped(mfm, "jet")))
    items.append(("colour_viridis_512", "colour_map", lambda r: colour_mapped(example_512, "viridis")))
    for kind in ("straight_square", "straight_sine", "diagonal_square", "diagonal_sine_noisy", "any_square_noisy",
                 "checker", "checker_noisy", "checker_any", "rings", "any_sine"):
        items.append((f"stripes_{kind}", "stripes", lambda r, kd=kind: stripes(r, kd, 8e-9)))
    for kind in ("ramp", "vignette", "sky", "bokeh", "portrait", "sunset"):
        items.append((f"gradient_{kind}", "gradient", lambda r, kd=kind: gradient(r, kd)))
    out = []
    for i, (name, category, make) in enumerate(items):
        pixel = 8e-9 if category in ("colour_map", "stripes") else PIXELS_NM[i % len(PIXELS_NM)] * 1e-9
        if name == "colour_viridis_512":
            pixel = 4e-9
        out.append((name, category, np.asarray(make(np.random.default_rng([seed, i]))), pixel))
    return out
