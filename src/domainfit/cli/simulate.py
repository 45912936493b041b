"""``domainfit simulate``: relax a random state of a perpendicular film into a domain pattern."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import units
from .._files import check_output
from ..errors import UNTRUSTWORTHY_EXIT, DomainfitError
from ._common import emit


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "simulate",
        parents=parents,
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
    p.add_argument("--seed", type=units.seed_arg, default=0, help="seed of the initial state and grains")
    p.add_argument("--tol", type=float, default=1e-4, help="stop when max |m×H|/Ms < tol (default 1e-4)")
    p.add_argument("--max-steps", type=int, default=20_000, help="minimiser step limit")
    p.add_argument("--x64", action="store_true", help="compute in float64 (slower)")
    p.add_argument("--out", type=Path, help="write m and metadata to FILE.npz")
    p.add_argument("--png", type=Path, help="write a picture of m_z to FILE.png")
    p.set_defaults(handler=run, outputs={"png": "figure"})


def run(args) -> int:
    from ..workflows.film import npz_path, relax_film

    given = {name: units.to_si(name, getattr(args, name)) for name in ("D", "Ms", "Ku", "A")
             if getattr(args, name) is not None}
    out = None if args.out is None else npz_path(args.out)
    if args.out is not None:  # before the relaxation, not after it (the others: cli.check_outputs)
        if args.out.is_dir():
            raise DomainfitError(f"--out {args.out} is a folder: give a file name, e.g. {args.out / 'state.npz'}")
        check_output(out, what="--out")
    result = relax_film(
        args.preset, **given, sigma=args.sigma, grain_size=units.to_si("length", args.grain_size), dmi=args.dmi,
        cells=args.cells, ny=args.ny, cell_size=units.to_si("length", args.cell_size),
        thickness=units.to_si("length", args.thickness), field=units.to_si("field", args.field), key=args.seed,
        tol=args.tol, max_steps=args.max_steps, x64=args.x64, progress=sys.stderr.isatty(),
    )  # fmt: skip
    if out is not None:
        result.save(out)
    if args.png is not None:
        result.save_png(args.png)

    def text() -> None:
        for warning in result.warnings:  # first: a spin spiral or an unresolved grid is no domain pattern
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        print("\n".join(result.lines()))

    emit(args, result.report, text)
    if not result.converged:
        return 1
    return 0 if result.summary["domain_regime"] else UNTRUSTWORTHY_EXIT  # K_eff ≤ 0 or |D| ≥ D_c: no domains
