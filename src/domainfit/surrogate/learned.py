"""The CNN's estimates as learned summary statistics of the likelihood (docs/inference.md).

The hand-made statistics of ``stats.summary_vector`` carry little of what the network reads (with the
shipped model their posterior was worse than the CNN estimate itself), so the summary vector is
extended by the CNN's mean estimate of each parameter it infers,

    s(image) = [stats.summary_vector(image), D̂(image) in mJ/m², σ̂(image), ...],

and the emulator learns μ(θ), Σ(θ) of the whole vector as for any statistic. The CNN outputs are
then data, not answers: their bias at θ (μ(θ) ≠ θ) and their noise Σ(θ) are what the emulator
measures, on simulations the network never saw. On its own training images the network is more
accurate than on new ones, so ``emulator_from_dataset(..., learned=...)`` refuses the model's
training set.

The CNN outputs are computed exactly as ``nn.estimate`` reads a whole image (tiles at the model's
pixel size, before the spread calibration), by ``nn.evaluate.view_estimates`` for a dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from ..errors import DomainfitError
from ..units import PARAMETER_UNITS

PREFIX = "cnn_"
"""Statistic names ``cnn_<parameter>`` mark the learned summaries in an emulator."""
GEOMETRY_NAMES = ("sign_log10_period_um", "sign_wall_density_per_um")
"""The geometry of the sign of the image as the CNN reads it (``features.geometry.pattern_geometry`` of the
prepared image: log10 of the domain period in µm, wall length per area in 1/µm), appended to the
CNN's estimates by ``emulator --learned --geometry``: what tells the parameter sets apart when one
network reads films of both (a co-pt maze of period 0.2–0.4 µm, low-ms domains of 0.4–2 µm)."""

DOMAIN_GEOMETRY_NAMES = ("domains_log10_period_um", "domains_wall_density_per_um")
"""The same geometry of the image's domains (``features.geometry.domain_sign``: noise in the image's weak
places makes no walls), appended by ``emulator --learned --geometry domains``. On recorded low-ms
images the sign read 2× the film's walls or more in 55 % of views, the domains in 7 %
(studies/sign_geometry.py)."""

GEOMETRIES = {"sign": GEOMETRY_NAMES, "domains": DOMAIN_GEOMETRY_NAMES}
"""The geometry statistics by kind (``emulator --geometry KIND``)."""

def geometry_kind(geometry: bool | str | None) -> str | None:
    """"sign", "domains" or None from an emulator fit's ``geometry`` option (True: "sign", as before)."""
    if geometry is None or geometry is False:
        return None
    kind = "sign" if geometry is True else str(geometry)
    if kind not in GEOMETRIES:
        raise DomainfitError(f"geometry {geometry!r}: use one of {', '.join(GEOMETRIES)}")
    return kind


def learned_names(stat_names: Sequence[str]) -> tuple[str, ...]:
    """Parameters whose CNN estimate is a statistic of an emulator with these statistic names."""
    return tuple(n[len(PREFIX):] for n in stat_names if n.startswith(PREFIX))


def learned_values(cnn_mean: Mapping[str, float], params: Sequence[str]) -> np.ndarray:
    """CNN means [SI] of ``params`` in user units (mJ/m², kA/m, 1): statistics of order one."""
    missing = [p for p in params if p not in cnn_mean]
    if missing:
        raise DomainfitError(f"the emulator uses the CNN estimate of {', '.join(missing)}, which this model does not give")
    return np.array([float(cnn_mean[p]) / PARAMETER_UNITS[p][1] for p in params])


def geometry_values(support, kind: str = "sign") -> np.ndarray:
    """``GEOMETRIES[kind]`` values from an estimate's ``SupportMeasures`` (``Estimate.support``): log10 of
    the period in µm and the walls per µm; a pattern without walls has no period (NaN)."""
    if kind == "sign":
        period, walls = support.period, support.wall_density
    else:
        period, walls = support.domains_period, support.domains_wall_density
    log_p = np.log10(period * 1e9 / 1e3) if period else np.nan  # via nm, as the report states it (same bits as before)
    return np.array([log_p, np.nan if walls is None else float(walls) * 1e-6])


def summary_with_cnn(cnn_mean: Mapping[str, float], stat_names: Sequence[str], base: Callable | None = None,
                     support=None) -> Callable | None:
    """The summary function of an emulator with learned statistics, for an image whose CNN means
    [SI] are ``cnn_mean`` (and whose estimate's ``support`` measures give the ``GEOMETRY_NAMES``):
    ``base`` (default ``stats.summary_vector``) then the CNN values and the geometry. None when
    ``stat_names`` has no learned statistic (use the default summary)."""
    params = learned_names(stat_names)
    if not params:
        return None
    geometry = [n for n in stat_names if any(n in names for names in GEOMETRIES.values())]
    if geometry and support is None:
        raise DomainfitError("the emulator reads the geometry of the image's sign: pass the estimate's support measures")
    if len(params) + len(geometry) == len(stat_names):  # the CNN's estimates only (instrument-trained models)
        base = lambda image, pixel_size: jnp.zeros(0)  # noqa: E731
    elif base is None:
        from ..features.statistics import summary_vector as base
    values = learned_values(cnn_mean, params)
    if geometry:
        g = {n: v for kind, names in GEOMETRIES.items() for n, v in zip(names, geometry_values(support, kind))}
        values = np.concatenate([values, [g[n] for n in geometry]])
    extra = jnp.asarray(values)

    def summary(image, pixel_size):
        return jnp.concatenate([jnp.asarray(base(image, pixel_size), extra.dtype), extra])

    return summary


def dataset_cnn_statistics(loaded, ds, rows: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """(names ``cnn_<p>``, values [N, k] in user units) of the CNN estimate of each whole image in
    ``rows`` of dataset ``ds`` for every parameter the model infers (not those held fixed in training)."""
    from ..nn.evaluate import view_estimates

    ranges = loaded.ranges
    params = [t for t in loaded.targets if not (t in ranges and ranges[t][0] == ranges[t][1])]
    if not params:
        raise DomainfitError("the model infers no parameter (all were fixed in training)")
    images = ds.images(rows[:1])
    full = min(images.shape[1:]) * ds.image_pixel_size
    _, _, results = view_estimates(loaded, ds, rows, (full,))
    mean, _ = results[full]
    cols = [loaded.targets.index(p) for p in params]
    values = mean[:, cols] / np.array([PARAMETER_UNITS[p][1] for p in params])
    return tuple(PREFIX + p for p in params), values


def recorded_cnn_statistics(loaded, ds, rows: np.ndarray, *, draws: int, seed: int, geometry: bool = False):
    """(names ``cnn_<p>``, values [N·draws, k] in user units, the parameters [N·draws, 5] SI of each
    view, the area of a view [m²], whether each view shows walls [N·draws] (``presence.shows_walls``))
    of the CNN's estimates of the states ``rows`` recorded by
    ``draws`` instruments each, drawn from the model's training distribution and read as a user's
    image (``nn.recorded``). For models trained on instrument views: only what survives an
    instrument enters the likelihood. ``geometry`` ("sign" or True, "domains") appends
    ``GEOMETRIES[geometry]``."""
    from ..nn.recorded import recorded_readings

    ranges = loaded.ranges
    params = [t for t in loaded.targets if not (t in ranges and ranges[t][0] == ranges[t][1])]
    if not params:
        raise DomainfitError("the model infers no parameter (all were fixed in training)")
    r = recorded_readings(loaded, ds, rows, prior=loaded.instruments, draws=draws, seed=seed)
    cols = [loaded.targets.index(p) for p in params]
    values = r.mean[:, cols] / np.array([PARAMETER_UNITS[p][1] for p in params])
    names = tuple(PREFIX + p for p in params)
    kind = geometry_kind(geometry)
    if kind is not None:
        period, walls = (r.period, r.wall_density) if kind == "sign" else (r.domains_period, r.domains_wall_density)
        with np.errstate(divide="ignore"):
            values = np.column_stack([values, np.log10(period * 1e6), walls * 1e-6])
        names += GEOMETRIES[kind]
    area = float(np.median(r.field_of_view)) ** 2
    return names, values, np.asarray(ds.params, np.float64)[r.row], area, r.walls


def check_held_out(loaded, ds, data_hash: str) -> None:
    """Refuse to fit learned statistics on the images the network was trained on (``data_hash``: the
    dataset's ``content_hash()``)."""
    trained_on = loaded.training.data_hash
    if trained_on is not None and trained_on == data_hash:
        raise DomainfitError(
            f"{ds.root} is the model's training set: its CNN outputs are more accurate there than on new images, "
            "so an emulator of them would be over-confident. Fit it on held-out simulations (domainfit generate "
            "with another --seed)")


def check_same_model(emulator, loaded) -> None:
    """Refuse an emulator of learned statistics with another CNN than the one it was fitted with."""
    if not learned_names(emulator.stat_names):
        return
    want = emulator.provenance.learned_model_sha256
    have = loaded.sha256
    if want is None or want != have:
        raise DomainfitError(
            "this emulator's statistics include the estimates of another CNN than the model given (weights "
            f"sha256 {str(want)[:12]}…, the model's {str(have)[:12]}…): refit it with `domainfit emulator "
            "--learned --model MODEL --data HELD_OUT_DATA`")
