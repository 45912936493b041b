"""The images and targets training reads: the validation split, the targets' normalisation and the
training set's images at the model's pixel size (cached beside the run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ..data.store import Dataset
from ..errors import DomainfitError
from .train_config import TARGETS, TrainConfig

def validation_mask(index: np.ndarray, fraction: float) -> np.ndarray:
    """True for the samples held out for validation: a fixed hash of the sample index below ``fraction``."""
    h = (np.asarray(index, np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
    return (h.astype(np.float64) / 2**32) < fraction


def normalisation(ranges: dict[str, tuple[float, float]], targets=TARGETS) -> dict:
    """centre and scale (half-width) per target from the prior ranges [SI]; a fixed range gets scale 1 of its unit."""
    out = {}
    for t in targets:
        lo, hi = ranges[t]
        scale = 0.5 * (hi - lo)
        out[t] = {"centre": 0.5 * (lo + hi), "scale": scale if scale > 0 else max(abs(lo), 1e-30)}
    return out


def images_at_pixel_size(images: np.ndarray, pixel_size: float, target: float) -> np.ndarray:
    """Resample a stack [n, h, w] from ``pixel_size`` to ``target`` [m] (no-op when equal)."""
    if abs(pixel_size / target - 1) < 1e-9:
        return images.astype(np.float32, copy=False)
    from .. import imaging

    return np.stack([np.asarray(imaging.resample(jnp.asarray(im), pixel_size, target)) for im in images]).astype(np.float32)


class TrainingImages:
    """What training steps draw from: the stored clean images [n, S, S] at the model pixel size, or
    pools of instrument-rendered views [n, V, P, P] (``TrainConfig.instruments``), one view of a
    sample picked at random per draw."""

    def __init__(self, array: np.ndarray, pooled: bool):
        self.array, self.pooled = array, pooled

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return tuple(self.array.shape[-2:])

    def take(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.pooled:
            return self.array[rows]
        return self.array[rows, rng.integers(0, self.array.shape[1], len(rows))].astype(np.float32)

    def first(self, rows: np.ndarray) -> np.ndarray:
        """Fixed images of ``rows`` (the first view of a pool), for validation."""
        return self.array[rows] if not self.pooled else self.array[rows, 0].astype(np.float32)


def training_images(ds: Dataset, cfg: TrainConfig, out: Path, data_hash: str, *, progress: bool) -> TrainingImages:
    """The clean stored images, or the instrument view pool: rendered once and kept in ``out``
    (``views-<hash>.npy``, written atomically) so that a resumed run does not render it again."""
    if cfg.instruments is None:
        return TrainingImages(images_at_pixel_size(ds.images(), ds.image_pixel_size, cfg.pixel_size), False)
    import hashlib

    from ..data.views import VIEWS_VERSION, render_pool

    if not ds.has_mz:
        raise DomainfitError(f"dataset {ds.root} stores no m_z (generated with --no-mz): instrument views need it")
    ident = json.dumps([data_hash, cfg.instruments.to_json(), cfg.views, cfg.seed, cfg.pixel_size, cfg.in_pixels,
                        VIEWS_VERSION], sort_keys=True)
    path = out / f"views-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npy"
    if path.exists():
        return TrainingImages(np.load(path, mmap_mode="r"), True)
    grid = ds.grid
    pool, _ = render_pool(ds.mz(), ds.index, cell_size=float(grid["cell_size"]), thickness=float(grid["thickness"]),
                          prior=cfg.instruments, views=cfg.views, seed=cfg.seed, pixel_size=cfg.pixel_size,
                          pixels=cfg.in_pixels, progress=progress)
    tmp = out / f".{path.name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        np.save(f, pool)
    os.replace(tmp, path)
    return TrainingImages(pool, True)


def crop_pixels(cfg: TrainConfig, image_shape: tuple[int, int]) -> tuple[int, ...]:
    """Crop sides in pixels: (n_min, n_max) of the log-uniform range, or the sorted set of ``fov_set``."""
    if cfg.fov_set is not None:
        cap = min(image_shape[0], image_shape[1], cfg.in_pixels)
        return tuple(sorted({max(1, min(int(round(f / cfg.pixel_size)), cap)) for f in cfg.fov_set}))
    n_max_fov = cfg.in_pixels if cfg.fov_max is None else int(round(cfg.fov_max / cfg.pixel_size))
    n_max = max(1, min(n_max_fov, image_shape[0], image_shape[1], cfg.in_pixels))
    n_min = max(1, min(int(round(cfg.fov_min / cfg.pixel_size)), n_max))
    return n_min, n_max


def prior_ranges(ds: Dataset) -> dict[str, tuple[float, float]]:
    from ..data.prior import PriorBox

    return PriorBox.from_json(ds.meta["identity"]["prior"]).ranges()
