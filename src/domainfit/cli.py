"""Command-line interface: a thin shell over the public API.

Every error a user can cause ends as one line on stderr and exit code 2 (``DomainfitError``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import units
from ._files import atomic_write, check_writable
from .errors import DomainfitError


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one-line ``DomainfitError``s."""

    def error(self, message: str):
        raise DomainfitError(f"{message} (see '{self.prog} --help')")


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="relax a random state into a domain pattern",
        description="Relax a random initial state of a perpendicular film into a domain pattern. "
        "Parameters in user units; the preset fills in what is not given.",
    )
    p.add_argument("--preset", default="co-pt", help="parameter set: co-pt (default) or low-ms")
    p.add_argument("--D", type=float, help="DMI constant [mJ/m²]")
    p.add_argument("--Ms", type=float, help="saturation magnetisation [kA/m]")
    p.add_argument("--Ku", type=float, help="uniaxial anisotropy [MJ/m³]")
    p.add_argument("--A", type=float, help="exchange stiffness [pJ/m]")
    p.add_argument("--sigma", type=float, help="anisotropy dispersion ΔKu/Ku (dimensionless)")
    p.add_argument("--grain-size", type=float, default=20.0, help="grain size [nm] (default 20)")
    p.add_argument("--dmi", choices=["interfacial", "bulk"], help="DMI kind (default: the preset's, bulk for co-pt)")
    p.add_argument("--cells", type=int, default=256, help="grid cells per side (default 256)")
    p.add_argument("--ny", type=int, help="cells along y if different from --cells")
    p.add_argument("--cell-size", type=float, default=4.0, help="cell size [nm] (default 4)")
    p.add_argument("--thickness", type=float, default=4.0, help="film thickness [nm] (default 4)")
    p.add_argument("--field", type=float, default=0.0, help="perpendicular applied field μ0H_z [mT]")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial state and grains")
    p.add_argument("--tol", type=float, default=1e-4, help="stop when max |m×H|/Ms < tol (default 1e-4)")
    p.add_argument("--max-steps", type=int, default=20_000, help="minimiser step limit")
    p.add_argument("--x64", action="store_true", help="compute in float64 (slower)")
    p.add_argument("--out", type=Path, help="write m and metadata to FILE.npz")
    p.add_argument("--png", type=Path, help="write a picture of m_z to FILE.png")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(handler=_simulate)


def _simulate(args) -> int:
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from . import PHYSICS_VERSION, __version__
    from .physics import Grid, make_material, simulate
    from .physics.material import regime_warnings
    from .summary import relaxed_summary

    overrides = {}
    for name in ("D", "Ms", "Ku", "A"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = units.to_si(name, value)
    if args.sigma is not None:
        overrides["sigma"] = args.sigma
    overrides["H_ext"] = (0.0, 0.0, units.to_si("field", args.field))
    for name in ("grain_size", "cell_size", "thickness"):
        value = getattr(args, name)
        if not (value == value and 0 < value < float("inf")):
            raise DomainfitError(f"--{name.replace('_', '-')} {value}: need a finite positive length in nm")
    if not (args.tol > 0):
        raise DomainfitError(f"--tol {args.tol}: need a positive tolerance")
    if args.max_steps < 1:
        raise DomainfitError(f"--max-steps {args.max_steps}: need at least 1")
    out = None if args.out is None else (args.out if args.out.suffix == ".npz" else args.out.with_suffix(".npz"))
    for path in (out, args.png):
        if path is not None:
            check_writable(path)  # before the relaxation, not after it

    dtype = jnp.float64 if args.x64 else jnp.float32
    grid = Grid(
        nx=args.cells,
        ny=args.ny if args.ny is not None else args.cells,
        cell_size=units.to_si("length", args.cell_size),
        thickness=units.to_si("length", args.thickness),
    )
    material = make_material(
        args.preset, dtype=dtype, dmi=args.dmi, grain_size=units.to_si("length", args.grain_size), **overrides
    )
    start = time.perf_counter()
    result = simulate(
        material,
        grid,
        key=jax.random.key(args.seed),
        tol=args.tol,
        max_steps=args.max_steps,
        progress=sys.stderr.isatty(),
    )
    result.m.block_until_ready()
    summary = relaxed_summary(result, grid)
    summary["wall_time_s"] = round(time.perf_counter() - start, 3)
    summary["warnings"] = regime_warnings(material, grid.cell_size, summary["period_nm"] * 1e-9)
    config = {
        "preset": args.preset,
        "parameters_SI": {
            "Ms_A_per_m": float(material.Ms),
            "A_J_per_m": float(material.A),
            "Ku_J_per_m3": float(material.Ku),
            "D_J_per_m2": float(material.D),
            "sigma": float(material.sigma),
            "H_ext_A_per_m": [float(h) for h in material.H_ext],
            "grain_size_m": material.grain_size,
            "dmi": material.dmi,
        },
        "grid": {"nx": grid.nx, "ny": grid.ny, "cell_size_m": grid.cell_size, "thickness_m": grid.thickness},
        "seed": args.seed,
        "tol": args.tol,
        "max_steps": args.max_steps,
        "dtype": "float64" if args.x64 else "float32",
        "domainfit_version": __version__,
        "physics_version": PHYSICS_VERSION,
    }
    if out is not None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, m=np.asarray(result.m), config_json=json.dumps(config), summary_json=json.dumps(summary))
        atomic_write(out, buffer.getvalue())
    if args.png is not None:
        from .plots import save_mz_png

        title = (
            f"D={units.from_si('D', float(material.D)):.2f} mJ/m², Ms={units.from_si('Ms', float(material.Ms)):.0f} kA/m, "
            f"σ={float(material.sigma):.2f}, period {summary['period_nm']:.0f} nm"
        )
        save_mz_png(np.asarray(result.m[2]), grid.cell_size, args.png, title=title)
    if args.json:
        print(json.dumps({"summary": summary, "config": config}, indent=2))
    else:
        print(
            f"{'converged' if summary['converged'] else 'NOT converged'} after {summary['steps']} steps "
            f"(max torque {summary['max_torque']:.2e}) in {summary['wall_time_s']:.1f} s: "
            f"<m_z> = {summary['mean_mz']:+.3f}, period {summary['period_nm']:.0f} nm, "
            f"wall density {summary['wall_density_per_um']:.2f} /µm, energy {summary['energy_J']:.4e} J"
        )
        for warning in summary["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    return 0 if summary["converged"] else 1


def _add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="summary statistics of a domain image in physical units",
        description="Load a domain image (PNG, JPEG, TIFF, .npy, .npz) with its pixel size, normalise its "
        "contrast to [-1, 1] and print its statistics: domain period, spectral width, mean contrast, wall "
        "length per area and Euler characteristic per area. Writes a figure of the image, its power "
        "spectrum and the detected walls.",
    )
    p.add_argument("image", type=Path, help="image file, or \"example\" for the shipped example (a simulated co-pt maze)")
    p.add_argument(
        "--pixel-size",
        help="pixel size with its unit, e.g. 15.6nm or 0.0156um (required unless TIFF tags or the .npz give it)",
    )
    p.add_argument("--invert", action="store_true", help="invert the contrast (e.g. MFM phase sign)")
    p.add_argument("--flatten", type=int, metavar="DEGREE", help="subtract a polynomial background (1 = plane)")
    p.add_argument("--binarise", action="store_true", help="make the image two-level (Otsu threshold)")
    p.add_argument("--figure", type=Path, help="figure path (default: IMAGE_inspect.png in the current folder)")
    p.add_argument("--no-figure", action="store_true", help="do not write the figure")
    p.add_argument("--json", action="store_true", help="print statistics, spectrum and loading details as JSON")
    p.set_defaults(handler=_inspect)


def _inspect(args) -> int:
    from .imaging import load, parse_pixel_size

    pixel_size = parse_pixel_size(args.pixel_size)
    figure = None if args.no_figure else (args.figure or Path(f"{args.image.stem}_inspect.png"))
    if figure is not None and not figure.resolve().parent.exists():
        raise DomainfitError(f"cannot write {figure}: folder {figure.parent} does not exist")
    image = load(args.image, pixel_size=pixel_size, invert=args.invert, flatten=args.flatten, binarise=args.binarise)
    name = Path(image.source).name  # the resolved file (also for "example")

    import numpy as np

    from . import stats

    summary = stats.summary(image.data, image.pixel_size)
    k, power = stats.radial_spectrum(image.data, image.pixel_size)
    k_per_um = np.asarray(k) * units.parse_length("1um")
    if figure is not None:
        from .plots import save_inspect_png

        save_inspect_png(image.data, image.pixel_size, k_per_um, np.asarray(power), summary, figure, title=name)
    if args.json:
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
        print(json.dumps(report, indent=2, default=str))
    else:
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="domainfit", description="Material parameters from magnetic domain images.")
    parser.add_argument("--version", action="version", version=f"domainfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_simulate(sub)
    _add_inspect(sub)
    from ._cli_ml import add_commands as _add_ml_commands  # generate, train, evaluate, estimate

    _add_ml_commands(sub)
    from ._cli_inference import add_commands as _add_inference_commands  # compare

    _add_inference_commands(sub)
    from ._cli_posterior import add_commands as _add_posterior_commands  # emulator

    _add_posterior_commands(sub)
    return parser


def _redeliver_interrupt(hook_args) -> None:
    """``sys.unraisablehook`` while a command runs: a Ctrl-C that lands in a callback Python cannot
    raise from (JAX's garbage-collection hook) is delivered again a moment later, so that it stops
    the command as any other Ctrl-C does instead of printing a traceback and going on."""
    import os
    import signal
    import threading

    if issubclass(hook_args.exc_type, KeyboardInterrupt):
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    sys.__unraisablehook__(hook_args)


def _load_dependencies() -> None:
    """Import the numerical stack (seconds) with Ctrl-C ending the process at once: nothing has been
    written yet, and an interrupt inside an extension's start-up would otherwise surface as an
    ImportError or a traceback from a garbage-collection callback."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        import jax  # noqa: F401

        return

    def stop(signum, frame):
        os.write(2, b"domainfit: interrupted\n")
        os._exit(130)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        import equinox  # noqa: F401
        import jax  # noqa: F401
        import jax.numpy  # noqa: F401
        import numpy  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``domainfit`` command; returns the exit code."""
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver_interrupt
    try:
        return _main(argv)
    finally:
        sys.unraisablehook = previous_hook


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _load_dependencies()
        return args.handler(args)
    except DomainfitError as err:
        print(f"domainfit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("domainfit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`domainfit estimate … | head`): not an error of ours
        sys.stdout = None
        return 0
