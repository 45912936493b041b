"""How the CNN is trained: the typed configuration of ``train`` (stored with every checkpoint)."""

from __future__ import annotations

import dataclasses

from ..data.augment import FILLS
from ..data.instruments import TRAINING as TRAINING_INSTRUMENTS, InstrumentPrior
from ..errors import DomainfitError
from ..parameters import TARGETS as CNN_TARGETS
from .model import DEFAULT_WIDTHS

TARGETS: tuple[str, ...] = CNN_TARGETS
PRECISE_BN_BATCHES = 200
"""Training batches whose batch-norm statistics are averaged for inference at the end (``precise_batch_norm``)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (SI lengths).

    Attributes:
        steps: optimiser steps in total; batch_size: images per step.
        learning_rate: peak AdamW learning rate; weight_decay: AdamW decoupled weight decay.
        warmup_steps: linear warm-up before the cosine decay (to 1 % of the peak at ``steps``).
        pixel_size: model input pixel size [m]; in_pixels: input side P (multiple of 64).
        widths, norm: architecture (see ``model.CNN``).
        fov_min, fov_max: field-of-view range of the training crops [m] (fov_max None: P·p,
            limited by the image size), drawn log-uniform.
        fov_set: instead of a range, a set of fields of view [m] drawn with equal probability
            (each limited by the image size); leaves other scales out of training, so that
            generalisation across scales can be measured on them.
        augment: random crops/rotations/flips/sign (False: the centred full image as is).
        val_fraction: share of samples held out for validation (chosen by a hash of the index).
        checkpoint_every: steps between checkpoints; log_every: steps between log lines.
        seed: seed of initialisation, batches and augmentation.
        beta: β of the β-NLL loss (Seitzer et al., ICLR 2022): each target's NLL is weighted by
            stop_gradient(s^{2β}), so the means are fitted with weights 1/s^{2−2β} instead of 1/s²
            (0: the plain Gaussian NLL; 1: mean-squared error for the means). The spreads' optimum
            is unchanged.
        frozen_bn_steps: steps after ``steps`` with the batch norm frozen at its precise statistics
            (inference mode) and AdamW at 0.1× the peak rate decaying to 0 (``train``). Networks
            trained with batch statistics read full images with a bias under fixed statistics
            (D −0.06 mJ/m² at 2 µm); these steps fit the network to the statistics it is used with.
        fill: what surrounds a crop smaller than the input: "zero" or its mirror images "mirror"
            (``data.augment``); recorded in the model JSON, and estimation fills the same way.
        instruments: train on instrument-rendered views (``data.instruments.InstrumentPrior``):
            each stored m_z is recorded by ``views`` instruments drawn from it and prepared by
            ``imaging.model_input`` (``data.views.render_pool``), and crops do not wrap around
            (a recorded image is not periodic). None: the stored clean images (models before
            December 2026). Needs a dataset with m_z (the default of ``generate``).
        views: instrument draws per stored state (the pool a step picks from).
    """

    steps: int = 20_000
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    pixel_size: float = 16e-9
    in_pixels: int = 128
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    norm: str = "batch"
    fov_min: float = 0.5e-6
    fov_max: float | None = None
    fov_set: tuple[float, ...] | None = None
    augment: bool = True
    val_fraction: float = 0.1
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    beta: float = 0.0
    frozen_bn_steps: int = 0
    fill: str = "zero"
    instruments: InstrumentPrior | None = TRAINING_INSTRUMENTS
    views: int = 8

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise DomainfitError("steps and batch size must be at least 1")
        if not (self.learning_rate > 0) or self.weight_decay < 0:
            raise DomainfitError("learning rate must be positive and weight decay non-negative")
        if not (0 <= self.val_fraction < 1):
            raise DomainfitError(f"validation fraction {self.val_fraction}: need 0 ≤ f < 1")
        if not (self.pixel_size > 0 and self.fov_min > 0):
            raise DomainfitError("pixel size and field of view must be positive")
        if self.fov_set is not None and not (self.fov_set and all(f > 0 for f in self.fov_set)):
            raise DomainfitError(f"fields of view {self.fov_set}: need at least one, all positive")
        if self.fill not in FILLS:
            raise DomainfitError(f"fill {self.fill!r}: use one of {', '.join(FILLS)}")
        if self.frozen_bn_steps < 0 or (self.frozen_bn_steps and self.norm != "batch"):
            raise DomainfitError(f"frozen batch-norm steps {self.frozen_bn_steps}: need ≥ 0, and batch norm")
        if not (0 <= self.beta <= 1):
            raise DomainfitError(f"beta {self.beta}: need 0 ≤ β ≤ 1")
        if self.views < 1:
            raise DomainfitError(f"views {self.views}: need at least one instrument draw per state")

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        if self.fov_set is None:
            del d["fov_set"]  # runs from before the option keep their identity
        else:
            d["fov_set"] = list(self.fov_set)
        if d["fill"] == "zero":
            del d["fill"]  # runs from before the option keep their identity
        for name in ("beta", "frozen_bn_steps"):
            if d[name] == 0:
                del d[name]  # runs from before the option keep their identity
        if self.instruments is None:
            del d["instruments"], d["views"]  # runs from before the option keep their identity
        else:
            d["instruments"] = self.instruments.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        if d.get("fov_set") is not None:
            d["fov_set"] = tuple(d["fov_set"])
        if d.get("instruments") is not None:
            d["instruments"] = InstrumentPrior.from_json(d["instruments"])
        return cls(**d)

    @property
    def total_steps(self) -> int:
        return self.steps + self.frozen_bn_steps
