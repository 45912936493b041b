"""Fit and keep the emulators of a model in one call (what ``domainfit emulator`` runs).

A model's emulator lives beside it, ``NAME.eqx`` → ``NAME.emulator.npz`` (``nn.emulator_path``), where
``domainfit.estimate(..., posterior=True)`` finds it; for a dataset mixing prior boxes, one per box as
``NAME.emulator-COMPONENT.npz``. With ``out`` it goes to that file instead.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import DomainfitError


@dataclasses.dataclass
class FittedEmulator:
    """One fitted and saved emulator: the ``Emulator``, its file and a JSON-able summary."""

    emulator: object
    path: Path
    summary: dict


def emulator_targets(data, *, model=None, out=None, component: str | None = None) -> list[tuple[str | None, Path]]:
    """[(prior component or None, file)] the emulators of ``data`` go to; checked before any fit."""
    from ..data import Dataset
    from ..nn import emulator_path
    from ..nn.checkpoint import resolve_model_path
    from .fitting import dataset_components

    if out is None and model is None:
        raise DomainfitError("say where the emulator goes: --model MODEL (saved beside it) or --out FILE.npz")
    if str(model) == "default" and out is None:
        raise DomainfitError("--model default is the shipped model: give --out FILE.npz for the new emulator")
    if model is not None and str(model) != "default" and not resolve_model_path(model).is_file():
        raise DomainfitError(f"no model at {model}: train one with 'domainfit train' first")
    if not (Path(data) / "dataset.json").is_file():
        raise DomainfitError(f"no dataset at {data}: make one with 'domainfit generate'")
    components = dataset_components(Dataset(data))
    if component is not None and component not in components:
        raise DomainfitError(f"--component {component}: the dataset's prior components are {', '.join(components)}")
    wanted = [component] if component is not None else components
    if out is not None and len(wanted) > 1:
        raise DomainfitError(f"the dataset mixes {', '.join(components)}: with --out, choose one with --component "
                             "(or use --model, which keeps one emulator per component beside the model)")
    targets = []
    for comp in wanted:
        path = Path(out) if out is not None else emulator_path(model, comp if len(components) > 1 else None)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        if not path.resolve().parent.exists():
            raise DomainfitError(f"cannot write {path}: folder {path.parent} does not exist")
        targets.append((comp if len(components) > 1 else None, path))
    return targets


def fit_emulators(
    data,
    *,
    model=None,
    out=None,
    component: str | None = None,
    degree: int = 3,
    degree_var: int = 2,
    seed: int = 0,
    learned: bool = False,
    draws: int = 4,
    draw_seed: int = 1,
    geometry: bool | str = False,
    on_fitted: Callable[[FittedEmulator], None] | None = None,
) -> list[FittedEmulator]:
    """Fit the emulator(s) of dataset ``data`` (``emulator_from_dataset``) and save each atomically.

    Args:
        model: save beside this model (path; "default" is the shipped one, which is never overwritten:
            give ``out``); with ``learned`` its CNN's estimates are added as statistics.
        out: the emulator file instead (one prior component).
        component: one prior component of a mixed dataset (default: one emulator per component).
        degree, degree_var: polynomial degrees of the mean and the log-variance.
        seed: seed of the cross-validation folds; draws, draw_seed: instrument draws per state for a
            model trained on instrument views (with ``learned``); geometry: append the geometry of each
            view ("sign" or True: ``learned.GEOMETRY_NAMES``; "domains": ``learned.DOMAIN_GEOMETRY_NAMES``; with
            ``learned`` on instrument views).
        on_fitted: called with each ``FittedEmulator`` as soon as it is saved (progress for long fits).
    """
    import jax

    from ..nn import load_default, load_model
    from .fitting import emulator_from_dataset

    if draws < 1:
        raise DomainfitError(f"--draws {draws}: need at least 1")
    if degree < 0 or degree_var < 0:
        raise DomainfitError(f"--degree {degree} --degree-var {degree_var}: need degrees ≥ 0")
    if geometry and not learned:
        raise DomainfitError("--geometry appends to the CNN's estimates: use it with --learned")
    if learned and model is None:
        raise DomainfitError("--learned uses the estimates of a CNN: name it with --model MODEL")
    targets = emulator_targets(data, model=model, out=out, component=component)
    cnn = None
    if learned:
        cnn = load_default() if str(model) == "default" else load_model(model)
    fitted = []
    for comp, path in targets:
        t0 = time.perf_counter()
        emu = emulator_from_dataset(data, degree=degree, degree_var=degree_var, key=jax.random.key(seed),
                                    component=comp, learned=cnn, draws=draws, draw_seed=draw_seed,
                                    geometry=geometry)
        emu.save(path)  # atomic: an interrupted run never leaves half an emulator
        summary = {"out": str(path), "component": emu.component, "inputs": list(emu.names),
                   "statistics": list(emu.stat_names), "area_um2": emu.area * 1e12,
                   "cross_validation": emu.error_report, "wall_time_s": round(time.perf_counter() - t0, 3)}
        fitted.append(FittedEmulator(emu, path, summary))
        if on_fitted is not None:
            on_fitted(fitted[-1])
    return fitted
