"""``domainfit emulator``: fit the emulator of the summary statistics to a dataset (for ``estimate --posterior``).

A shell over ``inference.emulator_from_dataset``. A model's emulator lives beside it, ``NAME.eqx`` →
``NAME.emulator.npz`` (``nn.emulator_path``), or, for a training set mixing prior boxes, one per box as
``NAME.emulator-COMPONENT.npz``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ._common import emit, enable_compilation_cache, json_on_stdout


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "emulator",
        parents=parents,
        help="fit the emulator of the summary statistics to a dataset (for estimate --posterior)",
        description="Fit the amortised emulator of the statistics' mean μ(θ) and covariance Σ(θ) to every "
        "converged image of a 'domainfit generate' dataset, measure its error by K-fold cross-validation "
        "and save it. With --model it is saved beside the model (NAME.emulator.npz), where "
        "'estimate --posterior' finds it.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder (domainfit generate)")
    p.add_argument("--model", help="save beside this model (.eqx, .json or training folder)")
    p.add_argument("--out", type=Path, help="emulator file (.npz); default: beside --model")
    p.add_argument("--component", help="prior component of a mixed dataset (default: one emulator per component, "
                   "saved as NAME.emulator-COMPONENT.npz beside --model)")
    p.add_argument("--degree", type=int, default=3, help="polynomial degree of the mean (default 3)")
    p.add_argument("--degree-var", type=int, default=2, help="polynomial degree of the log-variance (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    p.add_argument("--learned", action="store_true",
                   help="add the --model CNN's estimates as learned statistics (fit on held-out data, never the "
                   "model's training set; docs/inference.md)")
    p.add_argument("--draws", type=int, default=4,
                   help="with --learned and a model trained on instrument views: instrument draws per state (default 4)")
    p.add_argument("--draw-seed", type=int, default=1, help="seed of those instrument draws (default 1)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..nn import emulator_path
    from ..nn.checkpoint import resolve_model_path

    if args.out is None and args.model is None:
        raise DomainfitError("say where the emulator goes: --model MODEL (saved beside it) or --out FILE.npz")
    if args.model == "default":  # the shipped model: its CNN for --learned, never overwritten in place
        if args.out is None:
            raise DomainfitError("--model default is the shipped model: give --out FILE.npz for the new emulator")
        from ..nn import load_default

        args.model = str(load_default().path)
    if args.draws < 1:
        raise DomainfitError(f"--draws {args.draws}: need at least 1")
    if args.degree < 0 or args.degree_var < 0:
        raise DomainfitError(f"--degree {args.degree} --degree-var {args.degree_var}: need degrees ≥ 0")
    if args.model is not None and not resolve_model_path(args.model).is_file():
        raise DomainfitError(f"no model at {args.model}: train one with 'domainfit train' first")
    if args.learned and args.model is None:
        raise DomainfitError("--learned uses the estimates of a CNN: name it with --model MODEL")
    if not (Path(args.data) / "dataset.json").is_file():
        raise DomainfitError(f"no dataset at {args.data}: make one with 'domainfit generate'")
    from ..data import Dataset
    from ..inference.emulator import dataset_components

    components = dataset_components(Dataset(args.data))
    if args.component is not None:
        if args.component not in components:
            raise DomainfitError(f"--component {args.component}: the dataset's prior components are {', '.join(components)}")
        wanted = [args.component]
    else:
        wanted = components
    if args.out is not None and len(wanted) > 1:
        raise DomainfitError(f"the dataset mixes {', '.join(components)}: with --out, choose one with --component "
                             "(or use --model, which keeps one emulator per component beside the model)")
    targets = []
    for comp in wanted:
        if args.out is not None:
            out = Path(args.out)
        else:
            out = emulator_path(args.model, comp if len(components) > 1 else None)
        if out.suffix != ".npz":
            out = out.with_name(out.name + ".npz")
        if not out.resolve().parent.exists():
            raise DomainfitError(f"cannot write {out}: folder {out.parent} does not exist")
        targets.append((comp if len(components) > 1 else None, out))
    enable_compilation_cache()
    import jax

    from ..inference import emulator_from_dataset
    from ..nn import load_model

    learned = load_model(args.model) if args.learned else None
    summaries = []
    for comp, out in targets:
        t0 = time.perf_counter()
        emu = emulator_from_dataset(args.data, degree=args.degree, degree_var=args.degree_var,
                                    key=jax.random.key(args.seed), component=comp, learned=learned,
                                    draws=args.draws, draw_seed=args.draw_seed)
        emu.save(out)  # atomic: an interrupted run never leaves half an emulator
        rep = emu.error_report
        summaries.append({"out": str(out), "component": rep.get("component"), "inputs": list(emu.names),
                          "statistics": list(emu.stat_names), "area_um2": emu.area * 1e12, "cross_validation": rep,
                          "wall_time_s": round(time.perf_counter() - t0, 3)})
        if not json_on_stdout(args):  # each emulator's text as soon as it is fitted
            print_emulator(emu, out)
    emit(args, summaries[0] if len(summaries) == 1 else summaries, [])  # the text is printed above
    return 0


def print_emulator(emu, out: Path) -> None:
    rep = emu.error_report
    comp = f" (prior component {rep['component']})" if rep.get("component") else ""
    print(f"emulator of {len(emu.stat_names)} statistics over {', '.join(emu.names)} fitted to {rep.get('n_train')} "
          f"images{comp} (degree {rep.get('degree')}/{rep.get('degree_var')}); saved to {out}")
    if "z_rms" in rep:
        print(f"  {rep['folds']}-fold cross-validation: surrogate error {rep['surrogate_error']:.3f} noise sd "
              f"(upper {rep['surrogate_error_upper']:.3f}), 90 % coverage {rep['coverage_90']:.3f}")
        for name, z, e in zip(emu.stat_names, rep["z_rms"], rep["mean_error_over_sd"]):
            print(f"  {name:>16}: held-out z rms {z:.3f}, mean error {e:.3f} noise sd")
    bad = [n for n, z in zip(emu.stat_names, rep.get("z_rms", [])) if not math.isfinite(z)]
    if bad or ("surrogate_error" in rep and not math.isfinite(rep["surrogate_error"])):
        print(f"warning: cross-validation gave non-finite errors{' for ' + ', '.join(bad) if bad else ''} (a "
              "statistic that barely varies across the dataset?): the emulator's error is unknown", file=sys.stderr)
    if rep.get("constants"):
        print("  held constant in the dataset: " + ", ".join(f"{n} = {units.format_user(n, v)}" for n, v in rep["constants"].items()))
