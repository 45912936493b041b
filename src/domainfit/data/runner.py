"""The compiled relaxation of a dataset's samples: ``make_runner`` (one jitted program per simulation
setting) and ``relax_samples``, the arrays a chunk stores for given sample indices — the unit of work of
``generate``, here or on a cluster worker (``data.remote``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..physics.material import Material
from .prior import PARAMETERS, sample_seeds


def _minimiser(name: str):
    from ..physics.relax import BB, PBB

    return {"bb": BB, "pbb": PBB}[name]()


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


def make_runner(config, devices=None):
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


def _build_runner(config, devices):
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


def relax_samples(config, indices, batch: int = 1, devices=None) -> dict[str, np.ndarray]:
    """The arrays a chunk stores for samples ``indices`` of ``config``, relaxed ``batch`` at a time.

    A pure function of (config, indices): each sample's seed, parameters and initial state derive
    from its index alone, so the result does not depend on which process computes it (the task a
    cluster worker runs, ``data.remote``) nor on how the indices are grouped."""
    runner, n_dev = make_runner(config, devices)
    batch = -(-max(int(batch), 1) // n_dev) * n_dev
    indices = np.asarray(indices, np.int64)
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
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays.update(index=indices, seed=seeds, params=params, component=component.astype(np.int8))
    if not config.store_mz:
        arrays.pop("mz")
    return arrays


def concatenate(pieces: dict[int, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of one chunk from those of its batches ``{offset: arrays}``, in index order."""
    order = sorted(pieces)
    return {k: np.concatenate([pieces[a][k] for a in order]) for k in pieces[order[0]]}
