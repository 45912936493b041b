"""``domainfit inspect``: summary statistics of a domain image in physical units."""

from __future__ import annotations

import sys
from pathlib import Path

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
    from ..imaging import parse_pixel_size
    from ..workflows.inspect import inspect_image

    pixel_size = parse_pixel_size(args.pixel_size)
    figure = None if args.no_figure else (args.figure or Path(f"{args.image.stem}_inspect.png"))
    if figure is not None and not figure.resolve().parent.exists():
        raise DomainfitError(f"cannot write {figure}: folder {figure.parent} does not exist")
    result = inspect_image(args.image, pixel_size=pixel_size, invert=args.invert, flatten=args.flatten,
                           binarise=args.binarise)
    if figure is not None:
        result.figure(figure)

    def text() -> None:
        print("\n".join(result.lines()))
        for note in result.warnings:
            print(f"warning: {note}", file=sys.stderr)

    emit(args, result.report, text)
    return 0
