"""``domainfit simulate``: relax a random state of a perpendicular film into a domain pattern."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .. import units
from .._files import atomic_write, check_writable
from ..errors import DomainfitError
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
    p.add_argument("--seed", type=int, default=0, help="seed of the initial state and grains")
    p.add_argument("--tol", type=float, default=1e-4, help="stop when max |m×H|/Ms < tol (default 1e-4)")
    p.add_argument("--max-steps", type=int, default=20_000, help="minimiser step limit")
    p.add_argument("--x64", action="store_true", help="compute in float64 (slower)")
    p.add_argument("--out", type=Path, help="write m and metadata to FILE.npz")
    p.add_argument("--png", type=Path, help="write a picture of m_z to FILE.png")
    p.set_defaults(handler=run)


def run(args) -> int:
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from .. import PHYSICS_VERSION, __version__
    from ..physics import Grid, make_material, simulate
    from ..physics.material import regime_warnings
    from ..summary import relaxed_summary

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
        from ..plots import save_mz_png

        title = (
            f"D={units.from_si('D', float(material.D)):.2f} mJ/m², Ms={units.from_si('Ms', float(material.Ms)):.0f} kA/m, "
            f"σ={float(material.sigma):.2f}, period {summary['period_nm']:.0f} nm"
        )
        save_mz_png(np.asarray(result.m[2]), grid.cell_size, args.png, title=title)

    def text() -> None:
        print(
            f"{'converged' if summary['converged'] else 'NOT converged'} after {summary['steps']} steps "
            f"(max torque {summary['max_torque']:.2e}) in {summary['wall_time_s']:.1f} s: "
            f"<m_z> = {summary['mean_mz']:+.3f}, period {summary['period_nm']:.0f} nm, "
            f"wall density {summary['wall_density_per_um']:.2f} /µm, energy {summary['energy_J']:.4e} J"
        )
        for warning in summary["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)

    emit(args, {"summary": summary, "config": config}, text)
    return 0 if summary["converged"] else 1
