"""``domainfit generate``: simulate a training dataset (resumable, shardable); a shell over ``data.generate``."""

from __future__ import annotations

import math
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ..tasks import cluster_from_options, cluster_parent
from ._common import emit, enable_compilation_cache, parse_range, progress_parent

RANGE_UNITS = {"D": "mJ/m²", "Ms": "kA/m", "sigma": "dimensionless", "Ku": "MJ/m³", "A": "pJ/m"}
"""The prior ranges a user may set, with their user units."""


def add_parser(sub, parents) -> None:
    progress = progress_parent("no progress bar (on stderr: images/s and ETA; every 30 s when stderr is not a terminal)")
    p = sub.add_parser(
        "generate",
        parents=[*parents, progress, cluster_parent()],
        help="simulate a training dataset (resumable, shardable)",
        description="Draw (D, Ms, σ, Ku, A) from a prior box, relax random states in batches and store "
        "m_z and rendered images with their parameters and seeds in a chunked HDF5 dataset folder. "
        "Killed and rerun with the same command, it completes the missing chunks only; a folder holding "
        "another configuration is refused. Ranges are low:high in user units (one value fixes it). With --workers "
        "or --scheduler the relaxations run as tasks on a Dask cluster and this process writes the chunks: the same "
        "dataset (docs/scale-out.md).",
    )
    p.add_argument("--out", type=Path, required=True, help="dataset folder (created; rerun to resume)")
    p.add_argument("--count", type=int, required=True, help="number of samples in the whole dataset")
    p.add_argument("--preset", default="mix", help="prior: mix (default: co-pt and low-ms, ½ each), co-pt, low-ms")
    for name, unit in RANGE_UNITS.items():
        p.add_argument(f"--{name}", metavar="LO:HI", help=f"range of {name} [{unit}] (all prior components)")
    p.add_argument("--cells", type=int, default=512, help="grid cells per side (default 512)")
    p.add_argument("--ny", type=int, help="cells along y if different from --cells")
    p.add_argument("--cell-size", type=float, default=4.0, help="cell size [nm] (default 4)")
    p.add_argument("--thickness", type=float, default=4.0, help="film thickness [nm] (default 4)")
    p.add_argument("--grain-size", type=float, default=20.0, help="grain size [nm] (default 20)")
    p.add_argument("--dmi", choices=["interfacial", "bulk"], default="bulk",
                   help="DMI kind (default bulk: the co-pt preset's, as in the imaging-scale paper; docs/physics.md)")
    p.add_argument("--tol", type=float, default=1e-4, help="stop at max |m×H|/Ms < tol (default 1e-4)")
    p.add_argument("--max-steps", type=int, default=20_000, help="minimiser step limit; samples that reach it are kept and flagged")
    p.add_argument("--minimiser", choices=("bb", "pbb"), default="bb",
                   help="bb: Barzilai-Borwein, the reference protocol (default); pbb: the same until the torque falls "
                        "below 0.5, then a Fourier-preconditioned tail: the same states in distribution, 3x fewer steps "
                        "at 512^2 (docs/performance.md)")
    p.add_argument("--image-pixel-size", type=float, default=16.0, help="pixel size of the stored rendered image [nm] (default 16)")
    p.add_argument("--chunk", type=int, default=64, help="samples per chunk file (default 64)")
    p.add_argument("--batch", type=int, help="samples relaxed together per device (speed only; default 1 on CPU, 8 on GPU)")
    p.add_argument("--seed", type=units.seed_arg, default=0, help="base seed (default 0)")
    p.add_argument("--shard", default="0/1", help="i/n: this job writes chunks j with j mod n = i (default 0/1)")
    p.add_argument("--no-mz", action="store_true", help="do not store m_z at the cell size (images only)")
    p.set_defaults(handler=run, outputs={"out": "folder"})


def run(args) -> int:
    from ..data import GenerateConfig, generate, parse_shard, preset_prior, with_bounds

    cluster = cluster_from_options(args.workers, args.scheduler)  # bad values refused before any work
    enable_compilation_cache()
    prior = preset_prior(args.preset)
    bounds = {n: parse_range(n, getattr(args, n)) for n in RANGE_UNITS if getattr(args, n) is not None}
    if bounds:
        prior = with_bounds(prior, **bounds)
    for name in ("cell_size", "thickness", "grain_size", "image_pixel_size"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise DomainfitError(f"--{name.replace('_', '-')} {v}: need a finite positive length in nm")
    config = GenerateConfig(
        count=args.count, prior=prior, cells=(args.cells, args.ny if args.ny is not None else args.cells),
        cell_size=units.to_si("length", args.cell_size), thickness=units.to_si("length", args.thickness),
        grain_size=units.to_si("length", args.grain_size), dmi=args.dmi, tol=args.tol, max_steps=args.max_steps, minimiser=args.minimiser,
        image_pixel_size=units.to_si("length", args.image_pixel_size), chunk_size=args.chunk, seed=args.seed,
        store_mz=not args.no_mz,
    )  # fmt: skip
    report = generate(
        args.out, config, shard=parse_shard(args.shard), batch_size=args.batch, progress=not args.no_progress,
        cluster=cluster,
    )  # fmt: skip
    summary = {
        "out": str(report.out),
        "chunks_written": report.chunks_written,
        "samples_written": report.samples_written,
        "chunks_present": report.chunks_present,
        "chunks_total": report.chunks_total,
        "not_converged": report.not_converged,
        "wall_time_s": round(report.wall_time_s, 3),
        "images_per_s": round(report.images_per_s, 4) if report.samples_written else None,
        "remade_damaged": list(report.remade),
    }
    rate = f" ({report.images_per_s:.3g} images/s)" if report.samples_written else ""
    emit(args, summary, lambda: [
        *(f"warning: damaged chunk found and made again — {why}" for why in report.remade),
        f"wrote {report.chunks_written} chunks ({report.samples_written} samples) in {report.wall_time_s:.1f} s{rate}; "
        f"{report.out} holds {report.chunks_present}/{report.chunks_total} chunks; "
        f"{report.not_converged} written samples not converged (kept, flagged)"
    ])  # fmt: skip
    return 0
