"""``domainfit emulator``: fit the emulator of the summary statistics to a dataset (for ``estimate --posterior``).

A shell over ``surrogate.model_emulators.fit_emulators``. A model's emulator lives beside it, ``NAME.eqx`` →
``NAME.emulator.npz`` (``nn.emulator_path``), or, for a training set mixing prior boxes, one per box as
``NAME.emulator-COMPONENT.npz``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ..tasks import cluster_from_options, cluster_parent, cluster_scope
from ._common import emit, enable_compilation_cache, json_on_stdout


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "emulator",
        parents=[*parents, cluster_parent("the CNN's readings of the images (with --learned)")],
        help="fit the emulator of the summary statistics to a dataset (for estimate --posterior)",
        description="Fit the amortised emulator of the statistics' mean μ(θ) and covariance Σ(θ) to every "
        "converged image of a 'domainfit generate' dataset, measure its error by K-fold cross-validation "
        "and save it. With --model it is saved beside the model (NAME.emulator.npz), where "
        "'estimate --posterior' finds it. With --learned, --workers or --scheduler read the images with the CNN "
        "as tasks on a Dask cluster (docs/scale-out.md); the fit stays here and is the same.",
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
    p.add_argument("--geometry", nargs="?", const="sign", choices=("sign", "domains"),
                   help="with --learned on instrument views: also the period and wall density of each view — of its "
                   "sign as the CNN reads it (sign, the default) or of its domains, where noise in the image's weak "
                   "places makes no walls (domains); statistics that tell parameter sets apart (docs/inference.md)")
    p.set_defaults(handler=run, outputs={"out": "file"})


def run(args) -> int:
    cluster = cluster_from_options(args.workers, args.scheduler)  # bad options refused before any work
    if cluster is not None and not args.learned:
        raise DomainfitError("--workers/--scheduler read the images with the CNN as tasks: they apply with --learned "
                             "(the statistics without it are computed here, in one pass)")
    enable_compilation_cache()
    from ..surrogate.model_emulators import emulator_targets, fit_emulators

    def show(fitted) -> None:  # each emulator's text as soon as it is fitted
        if not json_on_stdout(args):
            print_emulator(fitted.emulator, fitted.path)

    if cluster is not None:  # the files it will write checked before the workers start
        emulator_targets(args.data, model=args.model, out=args.out, component=args.component)
    # the CNN readings under fit_emulators (nn.recorded, nn.evaluate) run on the scope's cluster; the fit stays here
    with cluster_scope(cluster):
        fitted = fit_emulators(args.data, model=args.model, out=args.out, component=args.component, degree=args.degree,
                               degree_var=args.degree_var, seed=args.seed, learned=args.learned, draws=args.draws,
                               draw_seed=args.draw_seed, geometry=args.geometry, on_fitted=show)
    summaries = [f.summary for f in fitted]
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
