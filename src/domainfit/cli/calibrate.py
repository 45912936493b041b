"""``domainfit calibrate``: fit the CNN's spread factors on held-out images; a shell over ``nn.calibrate_spread``."""

from __future__ import annotations

from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ..tasks import cluster_from_options, cluster_parent
from ._common import emit, enable_compilation_cache, progress_parent


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "calibrate",
        parents=[*parents, progress_parent(), cluster_parent("the recording and reading of the images")],
        help="fit the CNN's spread factors on held-out images so that its 90 %% intervals hold",
        description="Estimate the held-out images of a dataset (by default the validation split of the model's "
        "training set) at the training fields of view, and store in the model JSON one factor per parameter on "
        "the predicted spread: the 90 % quantile of |estimate − truth|/sd over 1.645. estimate and evaluate "
        "apply it. Calibrate on data the model was not trained on, never on the test set. With --workers or "
        "--scheduler the images are recorded and read as tasks on a Dask cluster (docs/scale-out.md), to the "
        "same factors.",
    )
    p.add_argument("--model", required=True, help="model to calibrate (.eqx, .json or training folder); its JSON is updated")
    p.add_argument("--data", type=Path, required=True, help="dataset folder (its validation split is used unless --split all)")
    p.add_argument("--split", choices=["val", "all"], default="val", help="validation split of training (default) or all samples")
    p.add_argument("--first", type=int, metavar="N",
                   help="only samples of index < N (a dataset whose generation went on after the calibration)")
    p.add_argument("--fov", help="fields of view [µm], comma separated (default: the model's training set of scales)")
    p.add_argument("--level", type=float, default=0.9, help="interval probability to calibrate (default 0.9)")
    p.add_argument("--draws", type=int, default=2,
                   help="instrument draws per image for a model trained on instrument views (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of those instrument draws (default 0)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..data import Dataset
    from ..nn import calibrate_spread, load_model, select_rows

    cluster = cluster_from_options(args.workers, args.scheduler)  # bad options refused before any work
    enable_compilation_cache()
    loaded = load_model(args.model)
    ds = Dataset(args.data)
    rows = select_rows(loaded, ds, args.split, args.first)
    fovs = tuple(units.parse_length(f, default_unit="um") for f in args.fov.split(",")) if args.fov else None
    if args.draws < 1:
        raise DomainfitError(f"--draws {args.draws}: need at least 1")
    record = calibrate_spread(loaded, ds, rows=rows, fields_of_view=fovs, level=args.level, draws=args.draws,
                              seed=args.seed, progress=not args.no_progress, cluster=cluster)  # fmt: skip

    def text() -> list[str]:
        factors = ", ".join(f"{t} × {f:.3g}" for t, f in record["factors"].items())
        lines = [f"spread factors ({record['rows']} images, {len(record['fields_of_view_um'])} fields of view): {factors}"]
        for fam, per in record.get("per_family", {}).items():
            lines.append(f"  {fam}: " + ", ".join(f"{t} × {f:.3g}" for t, f in per.items()))
        if "support" in record:
            s = record["support"]
            lines.append(f"support reference ({s['views']} views, periods {s['period_nm'][0]:.0f}–{s['period_nm'][1]:.0f} nm, "
                         f"feature limit {s['feature_limit']:.3g}) in {s['file']}")
        lines.append(f"written to {Path(loaded.path).with_suffix('.json')}")
        return lines

    emit(args, record, text)
    return 0
