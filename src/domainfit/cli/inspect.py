"""``domainfit inspect``: summary statistics of a domain image in physical units."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ._common import emit, image_parent


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "inspect",
        parents=[image_parent(), *parents],
        help="summary statistics of a domain image in physical units",
        description="Load a domain image (PNG, JPEG, TIFF, .npy, .npz) with its pixel size, normalise its "
        "contrast to [-1, 1] and print its statistics: domain period, spectral width, mean contrast, wall "
        "length per area and Euler characteristic per area. Writes a figure of the image, its power "
        "spectrum and the detected walls.",
    )
    p.add_argument("--binarise", action="store_true", help="make the image two-level (Otsu threshold)")
    p.add_argument("--figure", type=Path, help="figure path (default: IMAGE_inspect.png in the current folder)")
    p.add_argument("--no-figure", action="store_true", help="do not write the figure")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..imaging import load, parse_pixel_size

    pixel_size = parse_pixel_size(args.pixel_size)
    figure = None if args.no_figure else (args.figure or Path(f"{args.image.stem}_inspect.png"))
    if figure is not None and not figure.resolve().parent.exists():
        raise DomainfitError(f"cannot write {figure}: folder {figure.parent} does not exist")
    image = load(args.image, pixel_size=pixel_size, invert=args.invert, flatten=args.flatten, binarise=args.binarise)
    name = Path(image.source).name  # the resolved file (also for "example")

    import numpy as np

    from .. import stats

    summary = stats.summary(image.data, image.pixel_size)
    k, power = stats.radial_spectrum(image.data, image.pixel_size)
    k_per_um = np.asarray(k) * units.parse_length("1um")
    if figure is not None:
        from ..plots import save_inspect_png

        save_inspect_png(image.data, image.pixel_size, k_per_um, np.asarray(power), summary, figure, title=name)
    report = {
        "image": str(args.image),
        "shape_px": list(image.shape),
        "statistics": summary,
        "summary_vector": {name: summary[key] for name, key in zip(stats.SUMMARY_NAMES, stats.SUMMARY_REPORT_KEYS)},
        "summary_units": dict(zip(stats.SUMMARY_NAMES, stats.SUMMARY_UNITS)),
        "radial_spectrum": {"k_per_um": k_per_um.tolist(), "power": np.asarray(power).tolist()},
        "loading": image.meta,
        "warnings": list(image.notes),
        "figure": None if figure is None else str(figure),
    }

    def text() -> None:
        s = summary
        ly, lx = s["field_of_view_um"]
        print(f"{name}: {image.shape[0]}×{image.shape[1]} px, {s['pixel_size_nm']:.4g} nm/px, "
              f"field of view {ly:.3g}×{lx:.3g} µm ({image.meta.get('pixel_size_source', 'given')})")  # fmt: skip
        print(f"  domain period        {s['period_nm']:8.1f} nm   (peak k₀ = {s['peak_k_per_um']:.3f} /µm, "
              f"{s['periods_in_view']:.1f} periods in view)")  # fmt: skip
        print(f"  spectral width       {s['spectral_width']:8.3f}      (std of ln k about k₀)")
        print(f"  mean contrast        {s['mean_contrast']:+8.3f}")
        print(f"  wall length / area   {s['wall_density_per_um']:8.3f} /µm")
        print(f"  Euler char. / area   {s['euler_per_um2']:+8.3f} /µm² (up domains)")
        if s["periods_in_view"] < 5:
            print(f"  note: only {s['periods_in_view']:.1f} periods in view; statistics of small images are biased and noisy")
        if figure is not None:
            print(f"  figure: {figure}")
        for note in image.notes:
            print(f"warning: {note}", file=sys.stderr)

    emit(args, report, text)
    return 0
