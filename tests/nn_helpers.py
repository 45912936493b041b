"""Helpers of the CNN tests: a synthetic dataset written through the real store, and tiny models."""

from __future__ import annotations

import numpy as np

from domainfit.data import GenerateConfig
from domainfit.data.prior import sample_seeds
from domainfit.data.store import init_store, n_chunks, write_chunk


def stripes(params: np.ndarray, pixels: int, *, seed: int) -> np.ndarray:
    """Stripe domains whose period grows with D and Ms and whose walls wiggle with σ (m_z units)."""
    rng = np.random.default_rng(seed)
    out = []
    y, x = np.mgrid[:pixels, :pixels]
    for D, Ms, sigma, *_ in params:
        period = 6 + 10 * D / 1e-3 + 6 * Ms / 1.5e6
        angle = rng.uniform(0, np.pi)
        u = x * np.cos(angle) + y * np.sin(angle) + 40 * sigma * np.sin(2 * np.pi * (x - y) / pixels)
        out.append(np.tanh(3 * np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))))
    return np.asarray(out, np.float32)


def write_synthetic_dataset(root, *, count=16, pixels=64, pixel_size=4e-9, chunk=8, seed=0, preset="mix", mz=False):
    """A dataset folder with the layout and metadata of ``generate`` but synthetic images (no physics);
    ``preset`` picks the parameter prior (``data.preset_prior``); ``mz`` also stores the images as m_z
    (float16, as ``generate`` does), for instrument rendering."""
    from domainfit.data import preset_prior

    cfg = GenerateConfig(count=count, prior=preset_prior(preset), cells=(pixels, pixels), cell_size=pixel_size,
                         image_pixel_size=pixel_size, chunk_size=chunk, seed=seed, store_mz=mz)  # fmt: skip
    init_store(root, cfg.identity())
    for j in range(n_chunks(count, chunk)):
        idx = np.arange(j * chunk, min((j + 1) * chunk, count))
        seeds = sample_seeds(seed, idx)
        params, comp = cfg.prior.sample(seeds)
        images = stripes(params, pixels, seed=j)
        write_chunk(root, j, {
            "index": idx, "seed": seeds, "params": params, "component": comp.astype(np.int8),
            "image": images, "steps": np.zeros(len(idx), np.int32),
            "converged": np.ones(len(idx), bool), "max_torque": np.zeros(len(idx), np.float32),
            "energy": np.zeros(len(idx)), **({"mz": images.astype(np.float16)} if mz else {}),
        })  # fmt: skip
    return root


def tiny_config(**changes):
    """A tiny CNN (64 px input at 4 nm, 8–16 filters) and an overfitting schedule; the same settings
    as `domainfit train` with TINY_CLI, so the compiled step is shared within a test session."""
    from domainfit.nn import TrainConfig

    base = dict(steps=120, batch_size=16, learning_rate=3e-3, weight_decay=1e-4, warmup_steps=10, pixel_size=4e-9,
                in_pixels=64, widths=(8, 8, 16, 16, 16, 16), norm="batch", fov_min=0.5e-6, fov_max=2.048e-6,
                augment=False, val_fraction=0.0, checkpoint_every=60, seed=0, instruments=None)  # fmt: skip
    base.update(changes)
    return TrainConfig(**base)


TINY_CLI = ["--instruments", "none", "--steps", "120", "--batch", "16", "--lr", "3e-3", "--weight-decay", "1e-4", "--warmup", "10",
            "--pixel-size", "4nm", "--input-pixels", "64", "--widths", "8,8,16,16,16,16", "--norm", "batch",
            "--fov", "0.5:2.048", "--no-augment", "--val-fraction", "0", "--checkpoint-every", "60", "--seed", "0"]  # fmt: skip
