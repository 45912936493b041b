"""``domainfit evaluate``: accuracy and calibration of a CNN on a held-out dataset; a shell over ``nn.evaluate``."""

from __future__ import annotations

from pathlib import Path

from .. import units
from ._common import emit, enable_compilation_cache, load_model_arg


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=parents,
        help="accuracy and calibration of a CNN on a held-out dataset",
        description="RMSE, bias and 90 % interval coverage per parameter, overall and per field of view, "
        "in user units (D mJ/m², Ms kA/m, σ dimensionless), and a set-versus-estimate PNG per parameter.",
    )
    p.add_argument("--model", default="default", help="model (.eqx, .json or training folder; default: the shipped one)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--fov", help="fields of view [µm], comma separated (default 0.5,1,1.5 and the full image)")
    p.add_argument("--plots", type=Path, help="folder for set_vs_estimate_{D,Ms,sigma}.png")
    p.add_argument("--split", choices=["all", "val"], default="all", help="all samples, or the validation split of training")
    p.add_argument("--single-view", action="store_true", help="read each tile once (as estimate --single-view)")
    p.set_defaults(handler=run, outputs={"plots": "folder"})


def run(args) -> int:
    from ..nn import evaluate, select_rows

    enable_compilation_cache()
    from ..data import Dataset

    loaded = load_model_arg(args.model)
    ds = Dataset(args.data)
    rows = select_rows(loaded, ds, args.split)
    fovs = None
    if args.fov:
        fovs = tuple(units.parse_length(f, default_unit="um") for f in args.fov.split(","))
    report = evaluate(loaded, ds, fields_of_view=fovs, rows=rows, plots=args.plots, symmetries=False if args.single_view else None)
    report["model"] = str(loaded.path)
    report["data"] = str(args.data)

    def text() -> list[str]:
        lines = []
        for t, e in report["parameters"].items():
            unit = "" if e["unit"] == "1" else " " + e["unit"]
            if e.get("fixed"):
                lines.append(f"{t:>5}: not estimated (held at {e['value']:.4g}{unit} in training)")
                continue
            for f, m in e["per_field_of_view"].items():
                new = " (not trained)" if m.get("trained") is False else ""
                lines.append(f"{t:>5} @ {f:>8}: RMSE {m['rmse']:.4g}{unit}, bias {m['bias']:+.3g}{unit}, "
                             f"90% coverage {m['coverage90']:.2f}{new}")  # fmt: skip
            lines.append(f"{t:>5}: RMSE {e['rmse']:.4g}{unit}, bias {e['bias']:+.3g}{unit}, 90% coverage {e['coverage90']:.2f}")
            for g in e.get("scale_generalisation", []):
                lines.append(f"{t:>5} @ {g['field_of_view_um']:.3g} µm (not trained): RMSE {g['ratio']:.2f}× that "
                             f"interpolated between the neighbouring trained scales")  # fmt: skip
        return lines

    emit(args, report, text)
    return 0
