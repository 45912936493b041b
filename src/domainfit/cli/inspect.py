"""``domainfit inspect``: summary statistics of a domain image in physical units."""

from __future__ import annotations

import sys
from pathlib import Path

from .._files import check_figure_path
from ._common import emit, image_options, image_parent, input_paths


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
    p.add_argument("--channels", action="store_true",
                   help="list the file's channels (name, unit, direction, shape, pixel size; * the default) and stop")
    p.set_defaults(handler=run, outputs={"figure": "figure"})


def run(args) -> int:
    from ..imaging import parse_pixel_size
    from ..workflows.inspect import inspect_image

    pixel_size = parse_pixel_size(args.pixel_size)
    if args.channels:
        from ..workflows.inspect import channel_lines, image_channels

        listing = image_channels(args.image, pixel_size=pixel_size, page=args.page)
        emit(args, listing, channel_lines(listing))
        return 0
    figure = None if args.no_figure else (args.figure or Path(f"{args.image.stem}_inspect.png"))
    if figure is not None:  # the default name too, before any work (an explicit --figure: cli.check_outputs)
        check_figure_path(figure, inputs=input_paths(args))
    result = inspect_image(args.image, pixel_size=pixel_size, invert=args.invert, flatten=args.flatten,
                           binarise=args.binarise, **image_options(args))
    if figure is not None:
        result.figure(figure)

    def text() -> None:
        print("\n".join(result.lines()))
        for note in result.warnings:
            print(f"warning: {note}", file=sys.stderr)

    emit(args, result.report, text)
    return 0
