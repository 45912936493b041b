"""Training data at scale: draw parameters from a prior box, relax batches, store chunks resumably.

``generate(out, config)`` fills the dataset directory ``out`` (see ``store``) with
``config.count`` samples. Sample i is a pure function of (base seed, i) — seed, parameters,
initial state and grains — so the content does not depend on batching, sharding or restarts:
killed at any moment and rerun with the same configuration, it writes exactly the missing chunks.
``shard=(i, n)`` makes this job write only the chunks j ≡ i (mod n), so n independent jobs
(a cluster array, several machines) fill one dataset that ``store.Dataset`` reads as one.

Batches are relaxed with ``physics.simulate_batch`` (``vmap``) under one ``jit``; with several
local devices the batch axis is sharded over all of them (``jax.sharding``, one program).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DomainfitError
from ..physics.grid import Grid
from ..physics.material import Material
from .prior import PARAMETERS, PriorBox, preset_prior, sample_seeds
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


def _minimiser(name: str):
    from ..physics.relax import BB, PBB

    return {"bb": BB, "pbb": PBB}[name]()


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


def _render(mz: jnp.ndarray, cell_size: float, pixel_size: float) -> jnp.ndarray:
    """m_z [ny, nx] at the cell size → image at ``pixel_size`` (area average, contrast = m_z)."""
    from .. import imaging

    return imaging.render(mz, cell_size, pixel_size=pixel_size)


def _materials(params: jnp.ndarray, dmi: str, grain_size: float, row: int | None = None) -> Material:
    """A batched ``Material`` from a float32 parameter array [B, 5] in the order of ``PARAMETERS``
    (with ``row``: the unbatched material of that row)."""
    col = {name: params[:, k] if row is None else params[row, k] for k, name in enumerate(PARAMETERS)}
    return Material(
        Ms=col["Ms"], A=col["A"], Ku=col["Ku"], D=col["D"], sigma=col["sigma"],
        H_ext=jnp.zeros(3, params.dtype), xi=None, dmi=dmi, grain_size=grain_size,
    )  # fmt: skip


def make_runner(config: GenerateConfig, devices=None):
    """A jitted ``(params f32 [B, 5], seeds uint32 [B]) -> dict of arrays`` relaxing one batch.

    With several ``devices`` the batch axis is sharded over them (B must be a multiple). Runners
    are cached per simulation setting, so several datasets of one kind compile once.
    """
    devices = tuple(devices) if devices is not None else tuple(jax.local_devices())
    key = (config.cells, config.cell_size, config.thickness, config.grain_size, config.dmi, config.tol,
           config.max_steps, config.minimiser, config.image_pixel_size, devices)  # fmt: skip
    if key not in _RUNNERS:
        _RUNNERS[key] = _build_runner(config, devices)
    return _RUNNERS[key]


_RUNNERS: dict = {}


def _build_runner(config: GenerateConfig, devices):
    from ..physics.simulate import simulate, simulate_batch

    grid = config.grid
    minimiser = _minimiser(config.minimiser)

    def run(params, seeds):
        keys = jax.vmap(jax.random.key)(seeds)
        if params.shape[0] == 1:
            # One sample (the CPU default): no vmap. A vmapped while_loop selects between the old and
            # the new state of every member at every step; at batch 1 that made each step ~1.5× slower.
            one = _materials(params, config.dmi, config.grain_size, row=0)
            res = simulate(one, grid, key=keys[0], tol=config.tol, max_steps=config.max_steps, minimiser=minimiser)
            res = jax.tree_util.tree_map(lambda x: x[None], res)
        else:
            materials = _materials(params, config.dmi, config.grain_size)
            res = simulate_batch(materials, grid, keys=keys, tol=config.tol, max_steps=config.max_steps,
                                 minimiser=minimiser)
        mz = res.m[:, 2]
        image = jax.vmap(lambda z: _render(z, grid.cell_size, config.image_pixel_size))(mz)
        return {
            "mz": mz.astype(jnp.float16),
            "image": image.astype(jnp.float32),
            "steps": res.steps.astype(jnp.int32),
            "converged": res.converged,
            "max_torque": res.max_torque.astype(jnp.float32),
            "energy": res.energy,
        }

    devices = list(devices)
    if len(devices) > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(devices), ("batch",))
        batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
        jitted = jax.jit(run, in_shardings=(batch_sharding, batch_sharding), out_shardings=batch_sharding)

        def call(params, seeds):
            return jitted(jax.device_put(params, batch_sharding), jax.device_put(seeds, batch_sharding))

        return call, len(devices)
    return jax.jit(run), 1


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
        runner, n_dev = make_runner(config, devices)
        batch = -(-batch_size // n_dev) * n_dev
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(
            total=todo_samples, unit="img", desc=f"generate {out.name}", disable=not show,
            mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True, smoothing=0.1,
            # images/s even when slower than one per second (tqdm would switch to s/img)
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]",
        )  # fmt: skip
        bar.set_postfix_str(f"{len(todo)} chunks to write; compiling the relaxation", refresh=True)
        try:
            for j in todo:
                t_chunk = time.perf_counter()
                arrays = _make_chunk(j, config, runner, batch, bar)
                if not config.store_mz:
                    arrays.pop("mz")
                store.write_chunk(
                    out, j, arrays,
                    {"code_version": __version__, "batch_size": batch, "wall_time_s": time.perf_counter() - t_chunk},
                )  # fmt: skip
                written += len(arrays["index"])
                not_converged += int((~arrays["converged"]).sum())
                bar.set_postfix_str(f"chunk {j}, not converged {not_converged}")
        finally:
            bar.close()
    present = len(store.verify_chunks(out, range(total_chunks), full=False)[0])
    return GenerateReport(out, len(todo), written, present, total_chunks, not_converged, time.perf_counter() - start,
                          remade)


def _make_chunk(j: int, config: GenerateConfig, runner, batch: int, bar) -> dict[str, np.ndarray]:
    indices = store.chunk_indices(j, config.count, config.chunk_size)
    seeds = sample_seeds(config.seed, indices)
    params, component = config.prior.sample(seeds)
    parts: dict[str, list] = {}
    for a in range(0, len(indices), batch):
        sl = slice(a, min(a + batch, len(indices)))
        n = sl.stop - sl.start
        p = params[sl].astype(np.float32)
        s = seeds[sl].astype(np.uint32)
        if n < batch:  # pad with copies of the last sample: one compiled shape, results unaffected
            p = np.concatenate([p, np.repeat(p[-1:], batch - n, 0)])
            s = np.concatenate([s, np.repeat(s[-1:], batch - n, 0)])
        res = jax.device_get(runner(jnp.asarray(p), jnp.asarray(s)))
        for k, v in res.items():
            parts.setdefault(k, []).append(np.asarray(v)[:n])
        if "compiling" in (bar.postfix or ""):
            bar.set_postfix_str(f"chunk {j}", refresh=False)
        bar.update(n)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays.update(index=indices, seed=seeds, params=params, component=component.astype(np.int8))
    return arrays
