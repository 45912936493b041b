"""Held-out states recorded by instruments and read as a user's image: the test of an estimator.

``recorded_readings`` records every stored state of ``rows`` by ``draws`` instruments drawn from a
prior (``data.instruments``; the family and pixel size may be forced), crops each recording (its
top-left F × F) to every field of view F, and reads it exactly as ``nn.estimate`` reads a user's
image (``reading_of``: the same preparation, tiles and symmetric views), before any spread
calibration. Calibration (``nn.calibrate``), evaluation on recorded images, the learned statistics
of the emulator and the microscope benchmark all stand on it. View (row i, draw j) takes its
instrument and noise from the seed (seed, stream, index_i, j), so a set of readings is a pure
function of its arguments, and with ``cluster=`` the rows are read as tasks on a Dask cluster
(``tasks``) to the same readings.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..data.instruments import InstrumentPrior, draw_instrument
from ..data.prior import PARAMETERS
from ..data.store import Dataset
from ..data.views import recorded
from ..errors import DomainfitError
from .checkpoint import LoadedModel
from .estimate import reading_of
from .support import assess
from ..features.geometry import domain_geometry, pattern_contrast, pattern_geometry, transition_width

_STREAM = 0xE7A1


@dataclasses.dataclass
class Readings:
    """One entry per (row, draw, field of view), SI units.

    Attributes:
        truth [N, K], mean [N, K], sd [N, K] (uncalibrated); features [N, F]; period [N] [m] and
        wall_density [N] [1/m] of the prepared image's sign, domains_period and domains_wall_density
        of its ``support.domain_sign``; family [N] and pixel_size [N] [m] of the instrument; field_of_view
        [N] [m]; row [N]; draw [N]; trusted [N]: no support check failed (``nn.support``, as
        ``estimate`` checks a user's image); width [N] [m]: the apparent wall width of the prepared
        image (``features.geometry.transition_width``); contrast [N]: its ``pattern_contrast``; walls [N]: the
        recording shows walls (``features.walls.shows_walls``); instruments: ``Instrument.describe()``
        of each view; reasons: the failed checks of each view.
    """

    truth: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    features: np.ndarray
    period: np.ndarray
    wall_density: np.ndarray
    domains_period: np.ndarray
    domains_wall_density: np.ndarray
    family: np.ndarray
    pixel_size: np.ndarray
    field_of_view: np.ndarray
    row: np.ndarray
    draw: np.ndarray
    trusted: np.ndarray
    width: np.ndarray
    contrast: np.ndarray
    walls: np.ndarray
    instruments: list
    reasons: list

    @classmethod
    def joined(cls, parts: list["Readings"]) -> "Readings":
        """The readings of ``parts`` one after another."""
        out = {}
        for f in dataclasses.fields(cls):
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = [x for v in values for x in v] if isinstance(values[0], list) else np.concatenate(values)
        return cls(**out)

    def select(self, mask: np.ndarray) -> "Readings":
        """The readings where ``mask`` [N] is True."""
        mask = np.asarray(mask, bool)
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = [x for x, m in zip(v, mask) if m] if isinstance(v, list) else v[mask]
        return Readings(**out)


def recorded_readings(
    loaded: LoadedModel,
    ds: Dataset,
    rows: np.ndarray,
    *,
    prior: InstrumentPrior,
    draws: int = 1,
    seed: int = 0,
    fields_of_view: tuple[float, ...] | None = None,
    family: str | None = None,
    pixel_size: float | None = None,
    progress: bool = False,
    cluster=None,
) -> Readings:
    """Read ``rows`` of ``ds`` as recorded by ``draws`` instruments each (module docstring).

    Args:
        prior: the instrument distribution; family / pixel_size [m]: force one.
        fields_of_view: crop sides [m] (default: the whole recording).
        cluster: where the readings run (``tasks.Cluster`` or an open ``distributed.Client``; None: here,
            or the cluster of an enclosing ``tasks.cluster_scope``), as tasks of a few rows each read by
            the workers from ``ds`` (its folder must be at the same path for them); the readings are
            those made here, whatever the split.
    """
    from tqdm.auto import tqdm

    from ..tasks import open_cluster, rows_per_task, run_tasks, scoped, share

    rows = np.asarray(rows)
    if len(rows) == 0:
        raise DomainfitError(f"no samples to read in {ds.root}")
    if not ds.has_mz:
        raise DomainfitError(f"dataset {ds.root} stores no m_z (generated with --no-mz): cannot record it by instruments")
    n_fov = 1 if fields_of_view is None else len(fields_of_view)
    bar = tqdm(total=len(rows) * draws * n_fov, desc="read recorded views", unit="view", disable=not progress,
               mininterval=5.0)  # fmt: skip
    with open_cluster(scoped(cluster)) as client:
        if client is not None:
            _ = loaded.support_reference  # read once here: the workers get this process's
        size = rows_per_task(client, len(rows))
        chunks = [rows[a:a + size] for a in range(0, len(rows), size)]
        model, data = share(client, loaded), share(client, ds)
        tick = bar.update if client is None else None  # here: view by view; on a cluster: task by task
        parts: list = [None] * len(chunks)
        for k, part in run_tasks(client, read_rows, [(model, data, c, prior, draws, seed, fields_of_view, family,
                                                      pixel_size, tick) for c in chunks], name="recorded views"):
            parts[k] = part
            if tick is None:
                bar.update(len(part["mean"]))
    bar.close()
    out = {key: [x for part in parts for x in part[key]] for key in parts[0]}
    if any(v is None for v in out["features"]):  # constant recordings: NaN features of the width the others have
        width = next((len(v) for v in out["features"] if v is not None), 0)
        out["features"] = [np.full(width, np.nan) if v is None else v for v in out["features"]]
    lists = ("instruments", "reasons")
    arrays = {k: np.asarray(v) for k, v in out.items() if k not in lists}
    return Readings(**arrays, **{k: out[k] for k in lists})


def read_rows(loaded: LoadedModel, ds: Dataset, rows: np.ndarray, prior: InstrumentPrior, draws: int, seed: int,
              fields_of_view: tuple[float, ...] | None, family: str | None, pixel_size: float | None,
              on_view=None) -> dict[str, list]:
    """The views of ``rows`` as lists per ``Readings`` field (a constant recording's features None):
    ``recorded_readings``' task, a pure function of its arguments (``on_view()`` after each view)."""
    from ..features.walls import shows_walls  # here: the CNN-only estimate must not load the inference stack

    cols = [PARAMETERS.index(t) for t in loaded.targets]
    cell, thickness = float(ds.grid["cell_size"]), float(ds.grid["thickness"])
    centre, scale = loaded.centre_scale()
    out = {k: [] for k in ("truth", "mean", "sd", "features", "period", "wall_density", "domains_period",
                           "domains_wall_density", "family", "pixel_size",
                           "field_of_view", "row", "draw", "trusted", "width", "contrast", "walls", "instruments",
                           "reasons")}  # fmt: skip
    trained = loaded.instruments
    trained_pixels = None if trained is None else (min(trained.pixel_sizes), max(trained.pixel_sizes))
    reference = loaded.support_reference
    tick = on_view or (lambda: None)
    for start in range(0, len(rows), 16):
        chunk = rows[start:start + 16]
        mz = ds.mz(chunk)
        for r, m in zip(chunk, mz):
            for j in range(draws):
                s = [int(seed), _STREAM, int(ds.index[r]), j]
                inst = draw_instrument(prior, np.random.default_rng(s), family=family, pixel_size=pixel_size)
                u = recorded(m, cell, thickness, inst, s + [1])
                p = inst.pixel_size
                for f in (None,) if fields_of_view is None else fields_of_view:
                    n = min(u.shape) if f is None else max(1, min(int(round(f / p)), min(u.shape)))
                    if np.ptp(u[:n, :n]) == 0:
                        # a uniform film recorded without noise or background: nothing to read, no walls
                        # (``estimate`` refuses such a file; a training view enters the presence model only)
                        nan = np.full(len(cols), np.nan)
                        for key, value in (("truth", ds.params[r, cols]), ("mean", nan), ("sd", nan),
                                           ("features", None), ("period", math.inf), ("wall_density", 0.0),
                                           ("domains_period", math.inf), ("domains_wall_density", 0.0),
                                           ("trusted", False), ("width", math.inf), ("contrast", 0.0),
                                           ("walls", False), ("reasons", ["the recording is constant"]),
                                           ("family", inst.name), ("pixel_size", p), ("field_of_view", n * p),
                                           ("row", r), ("draw", j), ("instruments", inst.describe())):
                            out[key].append(value)
                        tick()
                        continue
                    reading = reading_of(loaded, u[:n, :n], p)
                    geometry = pattern_geometry(reading.prepared, loaded.pixel_size)
                    contrast = pattern_contrast(u[:n, :n])
                    reasons, _ = assess(
                        pixel_size=p, field_of_view=reading.field_of_view, geometry=geometry,
                        trained_pixel_range=trained_pixels, fov_min=loaded.fov_min,
                        reference=reference,
                        feature_score=None if reference is None else float(reference.score(reading.features)),
                        contrast=contrast,
                    )  # fmt: skip
                    out["truth"].append(ds.params[r, cols])
                    out["mean"].append(centre + scale * reading.mean)
                    out["sd"].append(scale * reading.sd)
                    out["features"].append(reading.features)
                    out["period"].append(geometry["period"])
                    out["wall_density"].append(geometry["wall_density"])
                    domains = domain_geometry(reading.prepared, loaded.pixel_size)
                    out["domains_period"].append(domains["period"])
                    out["domains_wall_density"].append(domains["wall_density"])
                    out["trusted"].append(not reasons)
                    out["width"].append(transition_width(reading.prepared, geometry["wall_density"]))
                    out["contrast"].append(contrast)
                    out["walls"].append(shows_walls(u[:n, :n]))
                    out["reasons"].append(reasons)
                    out["family"].append(inst.name)
                    out["pixel_size"].append(p)
                    out["field_of_view"].append(n * p)
                    out["row"].append(r)
                    out["draw"].append(j)
                    out["instruments"].append(inst.describe())
                    tick()
    return out
