"""Training the CNN estimator: AdamW with a warm-up cosine schedule, Gaussian NLL, resumable.

The targets θ = (D, Ms, σ) are normalised to z = (θ − centre)/scale with centre and half-width of
the dataset's prior ranges (recorded with the model), so z ∈ [−1, 1]. The loss is the Gaussian
negative log-likelihood ½((z − μ)/s)² + log s per target, averaged; the mean-squared error of μ is
logged beside it. Each step draws a batch (``numpy`` generator seeded by (seed, step)) and augments
it on the fly (``data.augment``: random field of view, rot90/flips, sign), so a run is a
deterministic function of its configuration (augmentation numbers too come from that generator), and
resuming from a checkpoint continues it exactly. After the last step the batch-norm running
statistics are replaced by their exact mean over 200 training batches (``precise_batch_norm``).

Output folder layout::

    model.eqx, model.json          the latest model (what ``estimate``/``evaluate`` load)
    checkpoints/step-00001000/     model.eqx, model.json, opt.eqx, train.json (atomic folder rename)
    train.json                     the configuration; log.jsonl: one line of metrics per log interval
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..data.augment import N_UNIFORMS, augment_with, place_centred
from ..data.store import Dataset
from ..imaging import FLATTEN_DEGREE
from ..errors import DomainfitError
from ..parameters import MATERIAL, SI_UNITS
from .checkpoint import load_model, load_tree, save_model, save_tree
from .train_config import PRECISE_BN_BATCHES, TARGETS, TrainConfig
from .training_set import (
    TrainingImages,
    crop_pixels as crop_pixels_of,
    images_at_pixel_size as images_at_pixel_size,
    normalisation as normalisation,
    prior_ranges,
    training_images,
    validation_mask as validation_mask,
)
from .model import forward, make_model

@functools.lru_cache(maxsize=16)
def _make_optimiser(cfg: TrainConfig):
    # Cached: the optimiser is a static argument of the jitted step, so one object per
    # configuration lets a rerun or a resume in the same process reuse the compiled step.
    import optax  # here, not at the top: `import domainfit` and `estimate` need no optax

    warmup = min(cfg.warmup_steps, max(cfg.steps - 1, 0))
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else cfg.learning_rate, peak_value=cfg.learning_rate,
        warmup_steps=warmup, decay_steps=cfg.steps, end_value=0.01 * cfg.learning_rate,
    )  # fmt: skip
    return _clipped_adamw(schedule, cfg), schedule


@functools.lru_cache(maxsize=16)
def _make_frozen_optimiser(cfg: TrainConfig):
    """AdamW of the frozen-batch-norm phase: 0.1× the peak rate, cosine decay to 0 over its steps."""
    import optax

    schedule = optax.cosine_decay_schedule(0.1 * cfg.learning_rate, max(cfg.frozen_bn_steps, 1))
    return _clipped_adamw(schedule, cfg), schedule


def _clipped_adamw(schedule, cfg: TrainConfig):
    import optax

    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=cfg.weight_decay))


def gaussian_nll(z, mean, log_sd, active=None, beta: float = 0.0):
    """Mean Gaussian negative log-likelihood (without the constant ½ log 2π) of targets z, each term
    weighted by stop_gradient(s^{2β}) (β-NLL; β = 0 is the plain NLL, see ``TrainConfig.beta``).

    ``active`` [K] (1/0) leaves out targets the training set holds fixed: their NLL has no lower
    bound (the spread can shrink forever around a constant) and would swamp the others.
    """
    weight = jax.lax.stop_gradient(jnp.exp(2 * beta * log_sd)) if beta else 1.0
    if active is None:
        return jnp.mean(weight * (0.5 * ((z - mean) * jnp.exp(-log_sd)) ** 2 + log_sd))
    on = active > 0
    # Masked entries become exactly 0 (not 0 · inf): the mean is set to the target and log sd to 0.
    mean, log_sd = jnp.where(on, mean, z), jnp.where(on, log_sd, 0.0)
    if beta:
        weight = jax.lax.stop_gradient(jnp.exp(2 * beta * log_sd))
    nll = weight * (0.5 * ((z - mean) * jnp.exp(-log_sd)) ** 2 + log_sd)
    return jnp.sum(jnp.mean(nll, axis=0)) / jnp.maximum(jnp.sum(active), 1.0)


def _masked_mse(z, mean, active):
    return jnp.sum(jnp.mean((z - mean) ** 2, axis=0) * active) / jnp.maximum(jnp.sum(active), 1.0)


def _views(images, u, cfg: TrainConfig, crop_pixels):
    if not cfg.augment:
        return jax.vmap(lambda im: place_centred(im[: cfg.in_pixels, : cfg.in_pixels], cfg.in_pixels, cfg.fill))(images)
    discrete = cfg.fov_set is not None
    wrap = cfg.instruments is None  # a recorded image is not periodic: crops stay inside it
    return jax.vmap(
        lambda im, v: augment_with(im, v, out_pixels=cfg.in_pixels, crop_pixels=crop_pixels, discrete=discrete,
                                   fill=cfg.fill, wrap=wrap)
    )(images, u)


@eqx.filter_jit
def _train_step(model, state, opt_state, images, z, u, active, optimiser, cfg, crop_pixels):
    x = _views(images, u, cfg, crop_pixels)

    def loss_fn(m):
        mean, log_sd, new_state = forward(m, state, x)
        return gaussian_nll(z, mean, log_sd, active, cfg.beta), (new_state, _masked_mse(z, mean, active))

    (loss, (state, mse)), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    return eqx.apply_updates(model, updates), state, opt_state, loss, mse


@eqx.filter_jit
def _eval_batch(model, state, images, z, active, cfg):
    x = _views(images, None, dataclasses.replace(cfg, augment=False), None)
    mean, log_sd, _ = forward(eqx.nn.inference_mode(model), state, x)
    return gaussian_nll(z, mean, log_sd, active), _masked_mse(z, mean, active)


@dataclasses.dataclass
class TrainReport:
    out: Path
    steps: int
    resumed_from: int
    losses: list[float]
    mse: list[float]
    val: dict | None
    wall_time_s: float
    step_time_s: float
    model: object = None
    state: object = None


def _latest_checkpoint(out: Path) -> Path | None:
    ck = out / "checkpoints"
    if not ck.is_dir():
        return None
    steps = sorted(p for p in ck.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / "train.json").exists())
    return steps[-1] if steps else None


def train(
    data: str | Path | Dataset,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    progress: bool | None = None,
    keep_checkpoints: int = 2,
    until_step: int | None = None,
    time_limit_s: float | None = None,
) -> TrainReport:
    """Train (or resume training of) a CNN estimator on a dataset; writes ``out/model.{eqx,json}``.

    Resumes from the latest checkpoint in ``out`` when there is one; a different configuration or
    dataset there is refused with ``DomainfitError``. ``until_step`` / ``time_limit_s`` [s] stop
    early with a checkpoint (for jobs with a wall-time limit); rerunning continues the same run.
    The report carries the final ``model`` and ``state``.
    """
    from .._version import PHYSICS_VERSION, __version__

    ds = data if isinstance(data, Dataset) else Dataset(data)
    if len(ds) == 0:
        raise DomainfitError(f"dataset {ds.root} holds no samples yet: run 'domainfit generate' first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config
    data_hash = ds.content_hash()
    ranges = {k: tuple(v) for k, v in prior_ranges(ds).items()}
    norm = normalisation(ranges)
    run_identity = {"config": {k: v for k, v in cfg.to_json().items() if k not in ("checkpoint_every", "log_every")}, "data_hash": data_hash}
    run_file = out / "train.json"
    old_identity = json.loads(run_file.read_text()).get("identity", {}) if run_file.exists() else None
    new_identity = json.loads(json.dumps(run_identity))
    if old_identity is not None and old_identity != new_identity and not _adds_frozen_phase(old_identity, new_identity, out, cfg):
        raise DomainfitError(
            f"{out} holds a training run with other settings or data; use the same options to resume, or a new --out"
        )
    if old_identity != new_identity:  # a new run, or a frozen batch-norm phase added to one: record it
        tmp = run_file.with_name(f".train.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"identity": run_identity, "data": str(ds.root)}, indent=2))
        os.replace(tmp, run_file)

    # Data: images at the model pixel size, normalised targets.
    val = validation_mask(ds.index, cfg.val_fraction)
    if val.all():
        val[:] = False
    images = training_images(ds, cfg, out, data_hash, progress=sys.stderr.isatty() if progress is None else progress)
    cols = [MATERIAL.index(t) for t in TARGETS]
    centre = np.array([norm[t]["centre"] for t in TARGETS])
    scale = np.array([norm[t]["scale"] for t in TARGETS])
    z_all = ((ds.params[:, cols] - centre) / scale).astype(np.float32)
    train_rows = np.nonzero(~val)[0]
    val_rows = np.nonzero(val)[0]
    crop_pixels = crop_pixels_of(cfg, images.shape)
    # Targets the data hold at one value (e.g. Ms of a Co/Pt-only set) are left out of the loss.
    active = jnp.asarray([float(ranges[t][0] < ranges[t][1]) for t in TARGETS], jnp.float32)
    if not bool(jnp.any(active > 0)):
        raise DomainfitError(f"dataset {ds.root} holds every target ({', '.join(TARGETS)}) fixed: nothing to learn")

    optimiser, schedule = _make_optimiser(cfg)
    meta = {
        "pixel_size": cfg.pixel_size,
        "targets": list(TARGETS),
        "units": {t: SI_UNITS[t] for t in TARGETS},
        "normalisation": norm,
        "ranges": {t: list(ranges[t]) for t in TARGETS},
        "fov": [crop_pixels[0] * cfg.pixel_size, crop_pixels[-1] * cfg.pixel_size],
        **({"fov_set": [n * cfg.pixel_size for n in crop_pixels]} if cfg.fov_set is not None else {}),
        "fill": cfg.fill,
        **({"instruments": cfg.instruments.to_json(), "preprocess": {"flatten": FLATTEN_DEGREE}}
           if cfg.instruments is not None else {}),
        "code_version": __version__,
        "physics_version": PHYSICS_VERSION,
        "training": {"data": str(ds.root), "data_hash": data_hash, "samples": int(len(train_rows)), "config": cfg.to_json()},
        **({"batch_norm": f"inference statistics: mean over {PRECISE_BN_BATCHES} training batches (precise BN)"}
           if cfg.norm == "batch" else {}),
    }

    model, state = make_model(in_pixels=cfg.in_pixels, widths=cfg.widths, norm=cfg.norm, key=jax.random.key(cfg.seed))
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    step0 = 0
    ck = _latest_checkpoint(out)
    if ck is not None:
        loaded = load_model(ck / "model.eqx")
        model, state = loaded.model, loaded.state
        opt_state = load_tree(ck / "opt.eqx", opt_state)
        step0 = int(json.loads((ck / "train.json").read_text())["step"])

    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.total_steps, initial=step0, unit="step", desc="train", disable=not show,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)  # fmt: skip
    bar.set_postfix_str("compiling the training step", refresh=True)
    losses, mses = [], []
    pending = []  # device scalars not yet fetched: no host sync per step (GPU dispatch runs ahead)
    t_start = time.perf_counter()
    t_first = None  # end of the first step (which includes compilation)
    log = open(out / "log.jsonl", "a")

    def flush(step: int) -> None:
        values = jax.device_get(pending)
        pending.clear()
        for loss, mse in values:
            losses.append(float(loss))
            mses.append(float(mse))
        if values and not math.isfinite(losses[-1]):
            raise DomainfitError(f"training diverged before step {step} (loss {losses[-1]}): lower --lr")

    frozen_optimiser, frozen_schedule = _make_frozen_optimiser(cfg)
    if step0 > cfg.steps:  # resuming inside the frozen phase: its optimiser state
        opt_state = load_tree(ck / "opt.eqx", frozen_optimiser.init(eqx.filter(model, eqx.is_inexact_array)))
    try:
        total = cfg.total_steps
        stop = total if until_step is None else max(step0, min(until_step, total))
        for step in range(step0, stop):
            if step == cfg.steps:  # end of the schedule: exact inference statistics, then freeze them
                state = precise_batch_norm(model, state, images, train_rows, cfg, crop_pixels, n_batches=PRECISE_BN_BATCHES)
                opt_state = frozen_optimiser.init(eqx.filter(model, eqx.is_inexact_array))
            rng = np.random.default_rng([cfg.seed, step])
            rows = train_rows[rng.integers(0, len(train_rows), cfg.batch_size)]
            batch = images.take(rows, rng)
            u = rng.random((cfg.batch_size, N_UNIFORMS), dtype=np.float32)
            if step < cfg.steps:
                model, state, opt_state, loss, mse = _train_step(
                    model, state, opt_state, jnp.asarray(batch), jnp.asarray(z_all[rows]),
                    jnp.asarray(u), active, optimiser, cfg, crop_pixels,
                )  # fmt: skip
            else:
                frozen, _, opt_state, loss, mse = _train_step(
                    eqx.nn.inference_mode(model), state, opt_state, jnp.asarray(batch), jnp.asarray(z_all[rows]),
                    jnp.asarray(u), active, frozen_optimiser, cfg, crop_pixels,
                )  # fmt: skip
                model = eqx.nn.inference_mode(frozen, False)
            pending.append((loss, mse))
            if step == step0:
                flush(step + 1)
                t_first = time.perf_counter()
                bar.set_postfix_str("", refresh=False)
            bar.update(1)
            out_of_time = time_limit_s is not None and time.perf_counter() - t_start > time_limit_s
            checkpoint = (step + 1) % cfg.checkpoint_every == 0 or step + 1 in (cfg.steps, stop) or out_of_time
            lr = schedule(step) if step < cfg.steps else frozen_schedule(step - cfg.steps)
            if (step + 1) % cfg.log_every == 0 or checkpoint:
                flush(step + 1)
                bar.set_postfix_str(f"nll {losses[-1]:.3f} mse {mses[-1]:.4f}")
                log.write(json.dumps({"step": step + 1, "nll": losses[-1], "mse": mses[-1], "lr": float(lr)}) + "\n")
                log.flush()
            if checkpoint:
                _checkpoint(out, step + 1, model, state, opt_state, meta, keep_checkpoints)
            if out_of_time:
                stop = step + 1
                break
        flush(stop)
        n_timed = len(losses) - 1
        step_time = (time.perf_counter() - t_first) / n_timed if t_first is not None and n_timed > 0 else float("nan")
        if stop == cfg.steps == total and cfg.norm == "batch":  # the end: exact inference statistics
            # (a function of the weights only, so recomputing on a rerun changes nothing)
            state = precise_batch_norm(model, state, images, train_rows, cfg, crop_pixels, n_batches=PRECISE_BN_BATCHES)
            _checkpoint(out, stop, model, state, opt_state, meta, keep_checkpoints)
    finally:
        bar.close()
        log.close()
    val_metrics = None
    if len(val_rows):
        nll, mse = [], []
        for a in range(0, len(val_rows), 64):
            r = val_rows[a : a + 64]
            l, m = _eval_batch(model, state, jnp.asarray(images.first(r)), jnp.asarray(z_all[r]), active, cfg)
            nll.append(float(l) * len(r))
            mse.append(float(m) * len(r))
        val_metrics = {"nll": sum(nll) / len(val_rows), "mse": sum(mse) / len(val_rows), "n": int(len(val_rows))}
    return TrainReport(
        out, stop, step0, losses, mses, val_metrics, time.perf_counter() - t_start,
        step_time, model, state,
    )  # fmt: skip


def _adds_frozen_phase(old: dict, new: dict, out: Path, cfg: TrainConfig) -> bool:
    """Whether ``new`` is ``old`` plus frozen batch-norm steps that have not begun (a finished run may
    be extended by that phase: its first ``steps`` are the same run)."""
    strip = lambda ident: {**ident, "config": {k: v for k, v in ident.get("config", {}).items() if k != "frozen_bn_steps"}}
    if strip(old) != strip(new) or old.get("config", {}).get("frozen_bn_steps", 0) != 0:
        return False
    ck = _latest_checkpoint(out)
    return ck is None or int(json.loads((ck / "train.json").read_text())["step"]) <= cfg.steps


def precise_batch_norm(model, state, images, rows, cfg: TrainConfig, crop_pixels, *, n_batches: int = 200):
    """Batch-norm running statistics replaced by their exact mean over ``n_batches`` training batches.

    Training normalises each layer with the statistics of its batch; inference uses the running
    averages, an exponential average over the last ~10 batches (momentum 0.9), which in these
    mixed-field-of-view batches is noisy and shifted the estimates (D by −0.07 mJ/m² on the training
    images themselves). Here each of ``n_batches`` batches, drawn and augmented as in training
    (a generator seeded by (seed, "bn", b)), is passed once from an empty state; the hidden
    statistics it leaves are averaged, so inference normalises with the mean of the batch statistics
    training used ("precise BN", Wu & Johnson, arXiv:2105.07576). Deterministic; returns the state.
    """
    if cfg.norm != "batch":
        return state
    if not isinstance(images, TrainingImages):
        images = TrainingImages(np.asarray(images), False)
    zero = jax.tree_util.tree_map(jnp.zeros_like, state)

    @eqx.filter_jit
    def one(x):
        return forward(model, zero, x)[2]

    total = None
    for b in range(n_batches):
        rng = np.random.default_rng([cfg.seed, 0x424E, b])
        r = rows[rng.integers(0, len(rows), cfg.batch_size)]
        batch = images.take(r, rng)
        u = rng.random((cfg.batch_size, N_UNIFORMS), dtype=np.float32)
        new = one(_views(jnp.asarray(batch), jnp.asarray(u), cfg, crop_pixels))
        leaves = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(new)]
        total = leaves if total is None else [t + x for t, x in zip(total, leaves)]
    treedef = jax.tree_util.tree_structure(state)
    like = jax.tree_util.tree_leaves(state)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(t / n_batches, x.dtype) for t, x in zip(total, like)])


def _checkpoint(out: Path, step: int, model, state, opt_state, meta: dict, keep: int) -> None:
    meta = dict(meta, training=dict(meta["training"], steps=step))
    ckdir = out / "checkpoints"
    ckdir.mkdir(exist_ok=True)
    final = ckdir / f"step-{step:08d}"
    tmp = ckdir / f".step-{step:08d}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(tmp / "model.eqx", model, state, meta)
    save_tree(tmp / "opt.eqx", opt_state)
    (tmp / "train.json").write_text(json.dumps({"step": step}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    save_model(out / "model.eqx", model, state, meta)
    old = sorted(p for p in ckdir.iterdir() if p.is_dir() and p.name.startswith("step-"))
    for p in old[:-keep]:
        shutil.rmtree(p, ignore_errors=True)
