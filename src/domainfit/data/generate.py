"""Training data at scale: draw parameters from a prior box, relax batches, store chunks resumably.

``generate(out, config)`` fills the dataset directory ``out`` (see ``store``) with
``config.count`` samples. Sample i is a pure function of (base seed, i) — seed, parameters,
initial state and grains — so the content does not depend on batching, sharding or restarts:
killed at any moment and rerun with the same configuration, it writes exactly the missing chunks.
``shard=(i, n)`` makes this job write only the chunks j ≡ i (mod n), so n independent jobs
(a cluster array, several machines) fill one dataset that ``store.Dataset`` reads as one.

Batches are relaxed with ``physics.simulate_batch`` (``vmap``) under one ``jit`` (``runner``); with
several local devices the batch axis is sharded over all of them (``jax.sharding``, one program).
``cluster=`` runs the batches as tasks on a Dask cluster instead (``data.remote``, ``tasks``), the
chunks still written by this process: the same dataset, however and wherever it was computed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ..physics.grid import Grid
from .prior import PriorBox, preset_prior
from .runner import concatenate as concatenate, make_runner as make_runner, relax_samples as relax_samples
from . import store


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """Everything that fixes the content of a dataset (SI units).

    Attributes:
        count: number of samples.
        prior: the parameter prior box.
        cells: grid cells (nx, ny).
        cell_size: cell edge [m]; thickness: film thickness [m].
        grain_size: grain diameter of the anisotropy disorder [m]; dmi: "interfacial" or "bulk"
            (default bulk, the co-pt preset's kind: ``physics.PRESET_DMI``).
        tol: relaxation stops at max |m×H|/Ms < tol; max_steps: minimiser step limit.
        minimiser: "bb" (``physics.BB``, the reference protocol of every dataset so far) or "pbb"
            (``physics.PBB``: the same steps until the torque falls below 0.1, then a preconditioned
            tail; relaxed states equal in distribution, 2.0× faster for co-pt and 1.4× for low-ms at
            512², docs/performance.md). Recorded in the dataset's identity when not "bb".
        image_pixel_size: pixel size of the stored rendered image [m] (default 16 nm, the model's).
        chunk_size: samples per chunk file.
        seed: base seed (sample seeds derive from it and the index).
        store_mz: also store m_z at the cell size (float16).
    """

    count: int
    prior: PriorBox = dataclasses.field(default_factory=preset_prior)
    cells: tuple[int, int] = (512, 512)
    cell_size: float = 4e-9
    thickness: float = 4e-9
    grain_size: float = 20e-9
    dmi: str = "bulk"
    tol: float = 1e-4
    max_steps: int = 20_000
    minimiser: str = "bb"
    image_pixel_size: float = 16e-9
    chunk_size: int = 64
    seed: int = 0
    store_mz: bool = True

    def __post_init__(self):
        if self.count < 1:
            raise DomainfitError(f"count {self.count}: need at least one sample")
        if self.chunk_size < 1:
            raise DomainfitError(f"chunk size {self.chunk_size}: need at least 1")
        if not (self.tol > 0):
            raise DomainfitError(f"tolerance {self.tol}: must be positive")
        if self.max_steps < 1:
            raise DomainfitError(f"max steps {self.max_steps}: need at least 1")
        if self.minimiser not in MINIMISERS:
            raise DomainfitError(f"minimiser {self.minimiser!r}: use one of {', '.join(MINIMISERS)}")
        if self.dmi not in ("interfacial", "bulk"):
            raise DomainfitError(f"dmi kind {self.dmi!r}: use 'interfacial' or 'bulk'")
        for name in ("cell_size", "thickness", "grain_size", "image_pixel_size"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise DomainfitError(f"{name.replace('_', ' ')} {v} m: need a finite positive length")
        self.grid  # validates the cells
        if self.image_pixel_size < self.cell_size * (1 - 1e-9):
            raise DomainfitError(
                f"image pixel size {self.image_pixel_size * 1e9:g} nm is below the cell size "
                f"{self.cell_size * 1e9:g} nm: images are rendered by averaging cells"
            )

    @property
    def grid(self) -> Grid:
        return Grid(nx=int(self.cells[0]), ny=int(self.cells[1]), cell_size=float(self.cell_size), thickness=float(self.thickness))

    def identity(self) -> dict:
        """The JSON-able description stored in ``dataset.json`` and compared on a rerun."""
        from .._version import PHYSICS_VERSION

        g = self.grid
        return {
            "count": self.count,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
            "physics_version": PHYSICS_VERSION,
            "grid": {"nx": g.nx, "ny": g.ny, "cell_size": g.cell_size, "thickness": g.thickness},
            "material": {"dmi": self.dmi, "grain_size": self.grain_size, "H_ext": [0.0, 0.0, 0.0]},
            "prior": self.prior.to_json(),
            "relax": {"tol": self.tol, "max_steps": self.max_steps, "dtype": "float32",
                      # absent for "bb", so that datasets made before the option keep their identity
                      **({"minimiser": MINIMISERS[self.minimiser]} if self.minimiser != "bb" else {})},
            "imaging": {"pixel_size": self.image_pixel_size, "render": "area average of m_z"},
            "store_mz": self.store_mz,
            "seeds": "seed_i = fmix32((i + fmix32(seed ^ 0x9E3779B9)) mod 2^32); simulate key = jax.random.key(seed_i)",
        }


def _pbb_identity() -> str:
    """PBB's defaults as datasets record them, read from the class so that a changed default changes
    the identity (a resumed dataset then refuses to mix protocols)."""
    from ..physics.relax import PBB

    d = PBB()
    length = f"{d.wall_widths:g}*sqrt(A/K_eff)" if d.length is None else f"{d.length:g}"
    return f"PBB(length={length}, switch={d.switch:g}, field={d.field!r})"


MINIMISERS: dict[str, str] = {"bb": "BB()", "pbb": _pbb_identity()}
"""``GenerateConfig.minimiser`` names and what they stand for (``physics.relax``; PBB's defaults)."""


@dataclasses.dataclass
class GenerateReport:
    """What one ``generate`` call did."""

    out: Path
    chunks_written: int
    samples_written: int
    chunks_present: int
    chunks_total: int
    not_converged: int
    wall_time_s: float
    remade: tuple[str, ...] = ()
    """Chunks found damaged on resume ("chunk-000003.h5: why"), deleted and made again."""

    @property
    def images_per_s(self) -> float:
        return self.samples_written / self.wall_time_s if self.wall_time_s > 0 else float("nan")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` → (i, n) with 0 ≤ i < n."""
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise DomainfitError(f"shard {text!r}: write it as i/n, e.g. 0/4 for the first of four jobs") from None
    if not (n >= 1 and 0 <= i < n):
        raise DomainfitError(f"shard {text!r}: need 0 ≤ i < n")
    return i, n


def generate(
    out: str | Path,
    config: GenerateConfig,
    *,
    shard: tuple[int, int] = (0, 1),
    batch_size: int | None = None,
    progress: bool | None = None,
    devices=None,
    cluster=None,
) -> GenerateReport:
    """Fill the dataset directory ``out`` with the samples of ``config`` (resumable, shardable).

    Args:
        out: dataset directory (created if needed). A directory holding another configuration is
            refused with ``DomainfitError``.
        config: what to generate.
        shard: (i, n): write only chunks j with j mod n == i.
        batch_size: samples relaxed together (rounded up to a multiple of the device count). Does
            not change which samples exist, only how fast they are made. Default: 1 per device on
            CPU, where a vmapped batch runs until its slowest member converges and each step costs
            more per image (256² co-pt: batch of 8 measured 4.6× slower per image than one at a
            time, docs/performance.md); 8 per device on GPU, where batching fills the device.
        progress: show a progress bar with images/s and ETA on stderr (default: when a terminal).
        cluster: where the relaxations run (``tasks.Cluster`` or an open ``distributed.Client``; None:
            here). Each batch is one task; this process writes the chunks, so the dataset is the same
            as made here (``data.remote``).
    """
    from .._version import __version__

    out = Path(out)
    i_shard, n_shard = shard
    if not (0 <= i_shard < n_shard):
        raise DomainfitError(f"shard {i_shard}/{n_shard}: need 0 ≤ i < n")
    if batch_size is None:
        import jax

        batch_size = 1 if jax.default_backend() == "cpu" else 8
    if batch_size < 1:
        raise DomainfitError(f"batch size {batch_size}: need at least 1")
    from ..resources import check_grid

    check_grid(int(config.cells[0]), int(config.cells[1]), batch=batch_size, what="generating")  # before any work
    store.init_store(
        out,
        config.identity(),
        {"code_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )
    total_chunks = store.n_chunks(config.count, config.chunk_size)
    mine = [j for j in range(total_chunks) if j % n_shard == i_shard]
    store.remove_stale_temporaries(out, mine)
    done, damaged = store.verify_chunks(out, mine, full=True)  # checksums: a damaged chunk is made again
    for j in damaged:
        store.remove_chunk(out, j)
    remade = tuple(f"{store.chunk_name(j)}: {why}" for j, why in sorted(damaged.items()) if why != store.UNCOMMITTED)
    todo = sorted(set(mine) - done)
    todo_samples = sum(len(store.chunk_indices(j, config.count, config.chunk_size)) for j in todo)

    start = time.perf_counter()
    written = not_converged = 0
    if todo:
        if cluster is None:
            n_dev = make_runner(config, devices)[1]
            batch = -(-batch_size // n_dev) * n_dev
        else:
            batch = batch_size  # rounded up to each worker's device count there
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(
            total=todo_samples, unit="img", desc=f"generate {out.name}", disable=not show,
            mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True, smoothing=0.1,
            # images/s even when slower than one per second (tqdm would switch to s/img)
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]",
        )  # fmt: skip
        bar.set_postfix_str(f"{len(todo)} chunks to write; compiling the relaxation", refresh=True)

        def commit(j: int, arrays: dict[str, np.ndarray], attrs: dict) -> None:
            nonlocal written, not_converged
            store.write_chunk(out, j, arrays, {"code_version": __version__, "batch_size": batch, **attrs})
            written += len(arrays["index"])
            not_converged += int((~arrays["converged"]).sum())
            bar.set_postfix_str(f"chunk {j}, not converged {not_converged}")

        try:
            if cluster is not None:
                from .remote import fill_chunks

                fill_chunks(config, todo, cluster, batch, commit, bar)
            else:
                for j in todo:
                    t_chunk = time.perf_counter()
                    arrays = {}
                    for a, piece in _pieces(j, config, batch):
                        arrays[a] = relax_samples(config, piece, batch, devices)
                        if "compiling" in (bar.postfix or ""):
                            bar.set_postfix_str(f"chunk {j}", refresh=False)
                        bar.update(len(piece))
                    commit(j, concatenate(arrays), {"wall_time_s": time.perf_counter() - t_chunk})
        finally:
            bar.close()
    present = len(store.verify_chunks(out, range(total_chunks), full=False)[0])
    return GenerateReport(out, len(todo), written, present, total_chunks, not_converged, time.perf_counter() - start,
                          remade)


def _pieces(j: int, config: GenerateConfig, batch: int):
    """(offset, indices) of the batches of chunk ``j``."""
    indices = store.chunk_indices(j, config.count, config.chunk_size)
    return [(a, indices[a : a + batch]) for a in range(0, len(indices), batch)]
