"""Saving and loading CNN estimators: ``eqx.tree_serialise_leaves`` plus a JSON of metadata.

A model is two files side by side, ``NAME.eqx`` (the leaves of (model, batch-norm state)) and
``NAME.json``::

    {"format": "domainfit-cnn", "format_version": 1,
     "architecture": {"in_pixels": 128, "widths": [...], "n_out": 3, "norm": "batch"},
     "pixel_size": 1.6e-08,                        # input pixel size [m]
     "targets": ["D", "Ms", "sigma"], "units": {...SI...},
     "normalisation": {"D": {"centre": c, "scale": s}, ...},   # z = (θ − c)/s, θ in SI
     "ranges": {"D": [lo, hi], ...},              # prior range of the training data [SI]
     "fov": [fov_min, fov_max],                   # fields of view seen in training [m]
     "fov_set": [f1, f2, ...],                    # only when trained on a set of fields of view [m]
     "instruments": {...}, "preprocess": {"flatten": 2},  # instrument-rendered training (data.instruments)
     "training": {"data_hash": ..., "steps": ..., ...},
     "code_version": ..., "physics_version": ..., "leaves_sha256": ...}

Both are written to temporary names and renamed (the JSON last); the JSON carries the SHA-256 of
the ``.eqx`` file, so a mismatched pair is detected on loading.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from pathlib import Path

import equinox as eqx
import numpy as np

from .._files import atomic_write
from ..data.augment import FILLS
from ..errors import DomainfitError
from .model import CNN, model_shape

FORMAT = "domainfit-cnn"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainingRecord:
    """What a model's JSON says about its training (``LoadedModel.training``).

    Attributes:
        steps: optimiser steps taken (None for a model saved outside ``train``).
        data_hash: identity hash of the training dataset (None when unknown).
        val_fraction: share of the dataset held out for validation.
        augment: whether crops, rotations and flips were used (then ``estimate`` reads symmetric views).
        config: the full ``TrainConfig`` as saved.
    """

    steps: int | None
    data_hash: str | None
    val_fraction: float
    augment: bool
    config: dict

    @classmethod
    def from_meta(cls, meta: dict) -> "TrainingRecord":
        training = meta.get("training") or {}
        config = training.get("config") or {}
        steps = training.get("steps")
        return cls(steps=None if steps is None else int(steps), data_hash=training.get("data_hash"),
                   val_fraction=float(config.get("val_fraction", 0.1)), augment=bool(config.get("augment", False)),
                   config=dict(config))


@dataclasses.dataclass
class LoadedModel:
    """A CNN estimator ready to use: network, batch-norm state, and its metadata (``meta``)."""

    model: CNN
    state: eqx.nn.State
    meta: dict
    path: Path | None = None

    @property
    def pixel_size(self) -> float:
        """Input pixel size [m]."""
        return float(self.meta["pixel_size"])

    @property
    def training(self) -> TrainingRecord:
        """Typed view of the training record of the model's JSON."""
        return TrainingRecord.from_meta(self.meta)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """{target: (low, high)} [SI] of the training set's parameters (empty when unknown)."""
        return {k: (float(v[0]), float(v[1])) for k, v in (self.meta.get("ranges") or {}).items()}

    @property
    def sha256(self) -> str | None:
        """sha256 of the weights file (emulators with learned statistics record it)."""
        return self.meta.get("leaves_sha256")

    @property
    def fov_min(self) -> float | None:
        """Smallest training field of view [m] (None when unknown)."""
        fov = self.meta.get("fov") or [None]
        return None if fov[0] is None else float(fov[0])

    @property
    def in_pixels(self) -> int:
        return int(self.meta["architecture"]["in_pixels"])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.meta["targets"])

    def centre_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(centre, scale) arrays [K] of the normalisation z = (θ − centre)/scale, SI."""
        norm = self.meta["normalisation"]
        return (
            np.array([norm[t]["centre"] for t in self.targets], dtype=np.float64),
            np.array([norm[t]["scale"] for t in self.targets], dtype=np.float64),
        )

    @property
    def fill(self) -> str:
        """What surrounds an image smaller than the input, as in training ("zero" for models from
        before the option)."""
        fill = str(self.meta.get("fill", "zero"))
        if fill not in FILLS:
            raise DomainfitError(f"model {self.path}: unknown fill {fill!r} in its JSON ({' or '.join(FILLS)})")
        return fill

    def spread_scale(self, field_of_view: float | None = None, family: str | None = None,
                     settings: dict[str, float] | None = None) -> np.ndarray:
        """Factors [K] on the predicted spreads, fitted on held-out images by ``nn.calibrate_spread``
        (1 where the model was never calibrated). With ``field_of_view`` [m] (the side of a square
        image, or √area) and a per-scale calibration: its factors interpolated linearly in log F,
        constant beyond the calibrated scales. With an instrument ``family`` the model was
        calibrated on: that family's factor relative to the pooled one multiplies them; with all of
        a model of that family (``per_family_settings``) and ``field_of_view``: the per-scale factors
        times exp(X b) of ``data.instruments.setting_covariates`` — with all the family's ``settings``
        (``height``, ``resolution`` [m], as in ``data.instruments.FAMILY_RANGES``), else with the
        field of view alone (the family's settings averaged over its calibration draws)."""
        record = self.meta.get("spread_calibration", {})
        missing = self.missing_settings(family, settings)
        if missing is not None and field_of_view is not None:
            from ..data.instruments import FAMILY_RANGES, setting_covariates

            model = record["per_family_settings"][family]
            names = FAMILY_RANGES[family]
            if not missing:
                X = setting_covariates(family, np.array([field_of_view]), {n: settings[n] for n in names})[0]
                b = np.array([model["coefficients"].get(t, [0.0] * len(X)) for t in self.targets], np.float64)
            else:
                X = setting_covariates(family, np.array([field_of_view]), {n: np.nan for n in names})[0, :2]
                b = np.array([model["marginal"].get(t, [0.0, 0.0]) for t in self.targets], np.float64)
            return self.spread_scale(field_of_view) * np.exp(b @ X)
        factors = record.get("factors", {})
        pooled = np.array([float(factors.get(t, 1.0)) for t in self.targets], dtype=np.float64)
        out = pooled
        scales = record.get("per_field_of_view")
        if field_of_view is not None and scales:
            logf = np.log(np.asarray(scales["fields_of_view_um"], np.float64) * 1e-6)
            x = math.log(field_of_view)
            out = np.array([np.interp(x, logf, scales["factors"][t]) if t in scales["factors"] else pooled[k]
                            for k, t in enumerate(self.targets)], dtype=np.float64)  # fmt: skip
        if family is not None:
            per = record.get("per_family", {}).get(family)
            if per is None:
                raise DomainfitError(f"the model was not calibrated for instrument family {family!r} "
                                     f"(it was for: {', '.join(self.calibrated_families) or 'none'})")
            out = out * np.array([float(per.get(t, 1.0)) / pooled[k] if pooled[k] > 0 else 1.0
                                  for k, t in enumerate(self.targets)])  # fmt: skip
        return out

    @property
    def calibrated_field_of_view(self) -> float | None:
        """The largest field of view [m] the spreads were calibrated at (None: no per-scale calibration)."""
        scales = self.meta.get("spread_calibration", {}).get("per_field_of_view")
        return None if not scales else max(scales["fields_of_view_um"]) * 1e-6

    @property
    def between_state_share(self) -> np.ndarray:
        """Per target, the share ρ of a reading's variance that is the state's and averages over a larger
        field of view (``surrogate.fitting.state_level`` on recorded views; 0 where not measured: nothing
        is taken to average beyond the calibrated field)."""
        rho = self.meta.get("spread_calibration", {}).get("between_state_share", {})
        return np.array([float(rho.get(t, 0.0)) for t in self.targets], np.float64)

    def missing_settings(self, family: str | None, settings: dict[str, float] | None) -> tuple[str, ...] | None:
        """None where the calibration has no setting model of ``family``; else the family's settings
        (``data.instruments.FAMILY_RANGES``) absent from ``settings`` (empty: all given)."""
        if family is None or family not in self.meta.get("spread_calibration", {}).get("per_family_settings", {}):
            return None
        from ..data.instruments import FAMILY_RANGES

        return tuple(n for n in sorted(FAMILY_RANGES[family]) if (settings or {}).get(n) is None)

    @property
    def calibrated_families(self) -> tuple[str, ...]:
        """Instrument families with their own spread factors (``calibrate`` on instrument views)."""
        return tuple(self.meta.get("spread_calibration", {}).get("per_family", {}))

    @property
    def flatten(self) -> int | None:
        """Degree of the background removed before reading (``imaging.model_input``); None for
        models trained on clean images, which read the loaded contrast as it is."""
        value = self.meta.get("preprocess", {}).get("flatten")
        return None if value is None else int(value)

    @property
    def instruments(self):
        """The ``InstrumentPrior`` the training views were recorded with (None: clean images)."""
        from ..data.instruments import InstrumentPrior

        record = self.meta.get("instruments")
        return None if record is None else InstrumentPrior.from_json(record)

    @functools.cached_property
    def support_reference(self):
        """The support checks' reference (``nn.support``) kept beside the model, or None."""
        from .support import Reference

        if self.path is None:
            return None
        p = support_path(self.path)
        return Reference.load(p) if p.is_file() else None


def _skeleton(meta: dict) -> tuple[CNN, eqx.nn.State]:
    """Shapes and dtypes only (``eval_shape``): deserialising needs no initialisation compute."""
    import jax
    import jax.numpy as jnp

    arch = meta["architecture"]
    try:
        shapes = model_shape(in_pixels=int(arch["in_pixels"]), widths=tuple(arch["widths"]), n_out=int(arch["n_out"]), norm=arch["norm"])
    except (KeyError, TypeError, ValueError) as err:
        raise DomainfitError(f"model metadata has a bad architecture entry: {err}") from None

    # Models are stored in 32 bits; with jax_enable_x64 on, eval_shape would ask for 64-bit leaves.
    narrow = {jnp.dtype("float64"): jnp.float32, jnp.dtype("int64"): jnp.int32, jnp.dtype("uint64"): jnp.uint32}

    def stored(x):
        if isinstance(x, jax.ShapeDtypeStruct) and x.dtype in narrow:
            return jax.ShapeDtypeStruct(x.shape, narrow[x.dtype])
        return x

    return jax.tree.map(stored, shapes)


def architecture(model: CNN) -> dict:
    return {"in_pixels": model.in_pixels, "widths": list(model.widths), "n_out": model.n_out, "norm": model.norm}


def _serialise(tree) -> bytes:
    import io

    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return buf.getvalue()


def save_model(path: str | Path, model: CNN, state: eqx.nn.State, meta: dict) -> Path:
    """Write ``path`` (.eqx) and its ``.json`` atomically; returns the .eqx path.

    ``meta`` needs pixel_size, targets, normalisation; architecture, format and the hash are added.
    """
    path = Path(path)
    if path.suffix != ".eqx":
        path = path.with_suffix(".eqx")
    data = _serialise((model, state))
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, architecture=architecture(model))
    meta["leaves_sha256"] = hashlib.sha256(data).hexdigest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())
    except OSError as err:
        raise DomainfitError(f"cannot write model {path}: {err.strerror or err}") from None
    return path


def resolve_model_path(path: str | Path) -> Path:
    """The ``.eqx`` file of a model given as NAME.eqx, NAME.json, NAME or a folder with model.eqx."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.eqx"
    elif path.suffix in (".json", ""):
        path = path.with_suffix(".eqx")
    return path


SUPPORT_SUFFIX = ".support.npz"
"""The support checks' reference of a model (``nn.support.Reference``): NAME.eqx → NAME.support.npz."""


def support_path(model_path: str | Path) -> Path:
    return resolve_model_path(model_path).with_suffix(SUPPORT_SUFFIX)


EMULATOR_SUFFIX = ".emulator.npz"
"""A model's amortised emulator (``surrogate.Emulator``) lives beside it: NAME.eqx → NAME.emulator.npz."""


def emulator_path(model_path: str | Path, component: str | None = None) -> Path:
    """Where the emulator of a model (given as for ``resolve_model_path``) is kept: ``NAME.emulator.npz``
    beside ``NAME.eqx`` (``domainfit emulator --model`` writes it, ``estimate --posterior`` reads it);
    for one component of a mixed training set, ``NAME.emulator-COMPONENT.npz``."""
    eqx_path = resolve_model_path(model_path)
    if component is None:
        return eqx_path.with_suffix(EMULATOR_SUFFIX)
    return eqx_path.with_name(f"{eqx_path.stem}{EMULATOR_SUFFIX[:-4]}-{component}.npz")


def emulator_paths(model_path: str | Path) -> list[Path]:
    """The emulators kept beside a model: ``[NAME.emulator.npz]`` if it exists, else every
    ``NAME.emulator-COMPONENT.npz`` (sorted; empty when there is none)."""
    single = emulator_path(model_path)
    if single.is_file():
        return [single]
    eqx_path = resolve_model_path(model_path)
    return sorted(eqx_path.parent.glob(f"{eqx_path.stem}{EMULATOR_SUFFIX[:-4]}-*.npz"))


def load_model(path: str | Path) -> LoadedModel:
    """Load a model saved by ``save_model`` (``path``: see ``resolve_model_path``)."""
    eqx_path = resolve_model_path(path)
    json_path = eqx_path.with_suffix(".json")
    if not eqx_path.exists() or not json_path.exists():
        raise DomainfitError(f"no model at {path}: need {eqx_path.name} and {json_path.name} (train one with 'domainfit train')")
    try:
        meta = json.loads(json_path.read_text())
        data = eqx_path.read_bytes()
    except (OSError, json.JSONDecodeError) as err:
        raise DomainfitError(f"cannot read model {path}: {err}") from None
    if meta.get("format") != FORMAT:
        raise DomainfitError(f"{json_path} does not describe a domainfit CNN")
    if meta.get("leaves_sha256") and hashlib.sha256(data).hexdigest() != meta["leaves_sha256"]:
        raise DomainfitError(f"model {eqx_path} does not match {json_path.name} (hash differs): re-save the model")
    import io

    model, state = eqx.tree_deserialise_leaves(io.BytesIO(data), _skeleton(meta))
    return LoadedModel(model, state, meta, eqx_path)


def load_default() -> LoadedModel:
    """The pretrained model shipped with domainfit (``domainfit/assets/cnn_default.{eqx,json}``)."""
    from .._assets import asset_path

    eqx_res, json_res = asset_path("cnn_default.eqx"), asset_path("cnn_default.json")
    if not (eqx_res.is_file() and json_res.is_file()):
        raise DomainfitError(
            "no pretrained model in this installation (domainfit/assets/cnn_default.eqx): "
            "train one with 'domainfit train' and pass it with --model"
        )
    return load_model(eqx_res)


def save_tree(path: Path, tree) -> None:
    """Serialise any pytree (optimiser state) atomically."""
    atomic_write(path, _serialise(tree))


def load_tree(path: Path, like):
    import io

    return eqx.tree_deserialise_leaves(io.BytesIO(Path(path).read_bytes()), like)
