"""Simulations of a film at its own constants: the grid, the design points and the relaxations, cached.

A design point is (D, σ) at the film's central constants; each is relaxed from the same random states
and grains (``seeds``: common random numbers, so the statistics differ between points by the physics,
not by the draw). Points are chosen in the reduced wall energy x = π σ_w/(μ0 Ms² t),
σ_w = 4√(A K_eff) − π|D| — the exponent of the period law, in which the film's constants act
together — so that the uncertain constants later move along the same axis (``emulator``).

Relaxed statistics are cached per film in ``$DOMAINFIT_FILM_CACHE`` (default ~/.cache/domainfit/films),
one small file per (point, seed), written atomically: a second image of the film, or an interrupted
run, reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from .._files import atomic_write
from .._version import PHYSICS_VERSION
from ..errors import DomainfitError
from ..films import Film
from ..units import MU0
from .statistics import STAT_NAMES, STATS_VERSION, state_statistics

MAX_CELLS = 512
"""Cells a side of a simulation at most (a 512² relaxation takes 10–20 s on one CPU core)."""
MAX_CELL_SIZE = 4e-9
TOL = 1e-3
"""Relaxations stop at max |m×H|/Ms < 1e-3: the domain pattern is pinned long before (docs/films.md)."""


def array_module(*values):
    """NumPy for NumPy values and numbers, JAX's NumPy for anything else (traced arrays)."""
    if all(isinstance(v, (float, int, np.ndarray, np.generic)) for v in values):
        return np
    import jax.numpy as jnp

    return jnp


def reduced_wall_energy(D, Ms, Ku, A, thickness):
    """x = π σ_w/(μ0 Ms² t), σ_w = 4√(A (Ku − μ0Ms²/2)) − π|D| (NumPy or JAX arrays, SI)."""
    k_eff = Ku - 0.5 * MU0 * Ms**2
    xp = array_module(D, Ms, Ku, A, thickness)
    return math.pi * (4 * xp.sqrt(A * k_eff) - math.pi * xp.abs(D)) / (MU0 * Ms**2 * thickness)


def dmi_at(x, Ms, Ku, A, thickness):
    """The D ≥ 0 [J/m²] of reduced wall energy ``x`` (the inverse of ``reduced_wall_energy``)."""
    k_eff = Ku - 0.5 * MU0 * Ms**2
    xp = array_module(x, Ms, Ku, A, thickness)
    return (4 * xp.sqrt(A * k_eff) - x * MU0 * Ms**2 * thickness / math.pi) / math.pi


@dataclasses.dataclass(frozen=True)
class FilmGrid:
    """The simulation grid of a film: ``cells`` a side of ``cell_size`` [m] (≤ 4 nm, ≤ 0.9 l_ex, ≤ Δ/3)."""

    cells: int
    cell_size: float

    @property
    def field_of_view(self) -> float:
        return self.cells * self.cell_size


def film_grid(film: Film, field_of_view: float) -> FilmGrid:
    """The grid that resolves ``film``'s walls and exchange length over ``field_of_view`` [m], at most
    ``MAX_CELLS`` a side (a smaller field then: the emulator scales the scatter by the area ratio)."""
    cell = min(MAX_CELL_SIZE, 0.9 * film.exchange_length, film.wall_width / 3)
    cells = int(min(MAX_CELLS, max(64, 16 * round(field_of_view / cell / 16))))
    return FilmGrid(cells=cells, cell_size=cell)


def cache_root() -> Path:
    return Path(os.environ.get("DOMAINFIT_FILM_CACHE") or Path.home() / ".cache" / "domainfit" / "films")


@dataclasses.dataclass
class Simulations:
    """Statistics of relaxed states of one film: ``stats[i, s, k]`` of the state at design point i =
    (D_i, σ_i), seed s, statistic k (``STAT_NAMES``); ``images[i, s, r, k]`` of its images by the
    image model's instrument draw r (``forward.instrument``; None without an image model); ``seconds``
    the relaxation times (0 where cached); ``converged`` whether each reached the torque tolerance."""

    film: Film
    grid: FilmGrid
    points: np.ndarray  # (n, 2): D [J/m²], σ
    seeds: tuple[int, ...]
    stats: np.ndarray
    seconds: np.ndarray
    folder: Path
    converged: np.ndarray
    images: np.ndarray | None = None

    @property
    def x(self) -> np.ndarray:
        v = self.film.values()
        return reduced_wall_energy(self.points[:, 0], v["Ms"], v["Ku"], v["A"], v["thickness"])

    def concatenate(self, other: "Simulations") -> "Simulations":
        """These and ``other``'s points (same film, grid, seeds and image model)."""
        cat = lambda a, b: None if a is None or b is None else np.concatenate([a, b])
        return dataclasses.replace(self, points=np.concatenate([self.points, other.points]),
                                   stats=np.concatenate([self.stats, other.stats]),
                                   seconds=np.concatenate([self.seconds, other.seconds]),
                                   converged=np.concatenate([self.converged, other.converged]),
                                   images=cat(self.images, other.images))


def film_key(film: Film, grid: FilmGrid) -> str:
    """Identity of a film's simulations: central constants, DMI kind, grains, grid, protocol, physics."""
    ident = dict(film.values(), dmi=film.dmi, grain_size=film.grain_size, cells=grid.cells, cell_size=grid.cell_size,
                 tol=TOL, minimiser="pbb", physics=PHYSICS_VERSION)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _relaxer(grid: FilmGrid, film: Film):
    import equinox as eqx
    import jax

    from .. import physics

    g = physics.Grid(nx=grid.cells, ny=grid.cells, cell_size=grid.cell_size, thickness=film.thickness.value)

    @eqx.filter_jit
    def run(material, key):
        r = physics.simulate(material, g, key=key, tol=TOL, max_steps=20_000, minimiser=physics.PBB())
        return r.m[2], r.converged

    def relax(D: float, sigma: float, seed: int):
        import jax.numpy as jnp

        v = film.values()
        mat = physics.make_material(None, Ms=v["Ms"], A=v["A"], Ku=v["Ku"], D=float(D), sigma=float(sigma),
                                    dmi=film.dmi, grain_size=film.grain_size, dtype=jnp.float32)
        mz, converged = run(mat, jax.random.key(seed))
        return np.asarray(mz), bool(converged)

    return relax


def relax_point(film: Film, grid: FilmGrid, D: float, sigma: float, seed: int) -> tuple[np.ndarray, bool, float]:
    """One relaxation of the design: (m_z float32 [n, n], converged, seconds). The task a cluster worker
    runs (``tasks``); its relaxation is compiled once per film and grid in each process."""
    key = film_key(film, grid)
    if key not in _RELAXERS:
        if len(_RELAXERS) >= 4:  # a long-lived process meeting many films keeps the last few
            _RELAXERS.clear()
        _RELAXERS[key] = _relaxer(grid, film)
    t0 = time.perf_counter()
    mz, ok = _RELAXERS[key](D, sigma, seed)
    return mz, ok, time.perf_counter() - t0


_RELAXERS: dict = {}


def simulate_points(film: Film, grid: FilmGrid, points, seeds, *, image_model=None, progress: bool = False,
                    cache: Path | None = None, cluster=None) -> Simulations:
    """Relax every (D, σ) of ``points`` from every seed (cached), and read the statistics of each
    state and, with ``image_model`` (``forward.instrument.ImageModel``), of its recorded images.

    The cache keeps per (point, seed) a JSON entry (statistics, convergence, time, the image
    statistics of each image model met) and the relaxed m_z (float16, ``.npz``), so that a new
    statistic or a new image model reads the stored state instead of relaxing it again.
    ``cluster`` (``tasks.Cluster`` or an open ``distributed.Client``): the missing relaxations run there as
    tasks, one per (point, seed); this process reads their statistics and writes the cache, so the
    result is the same as here."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    seeds = tuple(int(s) for s in seeds)
    folder = (cache or cache_root()) / f"{film_key(film, grid)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DomainfitError(f"cannot create the film's simulation cache {folder}: {err.strerror or err}") from None
    k = len(STAT_NAMES)
    stats = np.full((len(points), len(seeds), k), np.nan)
    images = None if image_model is None else np.full((len(points), len(seeds), image_model.draws, k), np.nan)
    seconds = np.zeros((len(points), len(seeds)))
    converged = np.ones((len(points), len(seeds)), bool)
    bar = _bar(len(points) * len(seeds), progress)

    def record(i, j, d, s, seed, path, entry, mz, current, changed):
        """The statistics of one state into the arrays, its cache entry written where it changed."""
        if not current or "stats" not in entry:
            entry.update(stats=[float(v) for v in state_statistics(mz, grid.cell_size)], names=list(STAT_NAMES),
                         version=STATS_VERSION, images={})
            changed = True
        if image_model is not None and image_model.key() not in entry.setdefault("images", {}):
            rec = image_model.statistics(mz, grid.cell_size, film.thickness.value, seed, point=_point_tag(d, s))
            entry["images"][image_model.key()] = [[float(v) for v in row] for row in rec]
            changed = True
        if changed:
            atomic_write(path, json.dumps(entry))
        stats[i, j] = entry["stats"]
        converged[i, j] = bool(entry.get("converged", True))
        if images is not None:
            images[i, j] = entry["images"][image_model.key()]
        bar.update(1)

    todo = []  # states to relax: (i, j, D, σ, seed, path)
    for i, (d, s) in enumerate(points):
        for j, seed in enumerate(seeds):
            path = folder / f"D{d:.6e}_s{s:.5f}_seed{seed}.json"
            entry, mz = _read_entry(path)
            current = entry is not None and entry.get("names") == list(STAT_NAMES) and entry.get("version") == STATS_VERSION
            if entry is None or (mz is None and (not current or (
                    image_model is not None and image_model.key() not in entry.get("images", {})))):
                todo.append((i, j, d, s, seed, path))
            else:
                record(i, j, d, s, seed, path, entry, mz, current, False)
    if todo:
        from ..tasks import open_cluster, run_tasks

        with open_cluster(cluster) as client:
            for n, (mz, ok, wall) in run_tasks(client, relax_point, [(film, grid, *t[2:5]) for t in todo],
                                               name="film relaxation"):
                i, j, d, s, seed, path = todo[n]
                seconds[i, j] = wall
                _write_state(path.with_suffix(".npz"), mz)
                record(i, j, d, s, seed, path, {"converged": bool(ok), "seconds": wall, "images": {}}, mz, False, True)
    bar.close()
    return Simulations(film=film, grid=grid, points=points, seeds=seeds, stats=stats, seconds=seconds, folder=folder,
                       converged=converged, images=images)


def _point_tag(d: float, s: float) -> int:
    """An integer of the design point (D, σ) as the cache names it (seeds its states' instrument draws)."""
    return int(hashlib.sha256(f"{d:.6e}_{s:.5f}".encode()).hexdigest()[:8], 16)


def _read_entry(path: Path):
    """(entry dict or None, stored m_z or None) of one cached relaxation; damaged files count as absent."""
    entry = mz = None
    try:
        entry = json.loads(path.read_text())
        if not isinstance(entry, dict):
            entry = None
    except (OSError, ValueError):
        pass
    try:
        with np.load(path.with_suffix(".npz")) as z:
            mz = np.asarray(z["mz"], np.float32)
    except (OSError, ValueError, KeyError, EOFError):
        pass
    if entry is not None and mz is None and "stats" not in entry:
        entry = None
    return entry, mz


def _write_state(path: Path, mz: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, mz=np.asarray(mz, np.float16))
    atomic_write(path, buf.getvalue())


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="film simulations", unit="relaxation", disable=not enabled, leave=False)


def design_points(film: Film, x_values, sigmas) -> np.ndarray:
    """(D, σ) at each x of ``x_values`` (reduced wall energy) and each σ, at the film's central constants,
    D kept within [0.02, 0.98] D_c."""
    v = film.values()
    d_c = film.critical_dmi
    out = []
    for x in x_values:
        d = float(np.clip(dmi_at(float(x), v["Ms"], v["Ku"], v["A"], v["thickness"]), 0.02 * d_c, 0.98 * d_c))
        out += [(d, float(s)) for s in sigmas]
    return np.unique(np.round(np.array(out), 12), axis=0)
