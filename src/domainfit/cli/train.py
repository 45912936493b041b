"""``domainfit train``: train the CNN estimator on a dataset; a shell over ``nn.train``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import units
from ..errors import DomainfitError
from ._common import emit, enable_compilation_cache, fov_option, progress_parent


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "train",
        parents=[*parents, progress_parent()],
        help="train the CNN estimator on a dataset (resumes from the last checkpoint)",
        description="Train the CNN (six conv blocks, Gaussian NLL head) with AdamW and a warm-up cosine "
        "schedule on a dataset from 'domainfit generate'. Writes OUT/model.eqx + model.json and "
        "checkpoints; rerun with the same options to resume.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--out", type=Path, required=True, help="training folder (model, checkpoints, log)")
    p.add_argument("--steps", type=int, default=20_000, help="optimiser steps (default 20000)")
    p.add_argument("--batch", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    p.add_argument("--warmup", type=int, default=500, help="warm-up steps (default 500)")
    p.add_argument("--pixel-size", default="16nm", help="model input pixel size (default 16nm; bare number = nm)")
    p.add_argument("--input-pixels", type=int, default=128, help="network input side in pixels (default 128)")
    p.add_argument("--widths", default="16,32,64,64,128,128", help="conv filters per block (default 16,32,64,64,128,128)")
    p.add_argument("--norm", choices=["batch", "group"], default="batch", help="normalisation layers (default batch)")
    p.add_argument(
        "--fov", default="0.5:2.048",
        help="fields of view of training crops [µm]: a range low:high (log-uniform; default 0.5:2.048) or a set a,b,c",
    )  # fmt: skip
    p.add_argument("--no-augment", action="store_true", help="no crops/rotations/flips (full images as they are)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of samples held out (default 0.1)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and batches")
    p.add_argument("--beta", type=float, default=0.0,
                   help="β-NLL weight s^(2β) on each term (default 0: Gaussian NLL; 0.5 weighs hard images more evenly)")
    p.add_argument("--fill", choices=("zero", "mirror"), default="zero",  # data.augment.FILLS (no jax import here)
                   help="around a crop smaller than the input: zeros, or its mirror images (reads every scale alike)")
    p.add_argument("--frozen-bn-steps", type=int, default=0,
                   help="steps after --steps with batch norm frozen at its exact statistics, at 0.1× the rate "
                        "(removes the bias of reading images with fixed statistics; may be added to a finished run)")
    p.add_argument("--instruments", choices=("training", "binary", "none", "ideal", "gaussian", "mfm", "probe"),
                   default="training",
                   help="what records each training view: instruments drawn at random (default; docs/imaging.md), "
                        "the ideal binarised pattern only (the geometry bound), none (the stored clean images), or "
                        "one training family alone with the same nuisances (a specialist, e.g. probe)")
    p.add_argument("--views", type=int, default=8, help="instrument draws rendered per stored state (default 8)")
    p.add_argument("--time-limit", type=float, help="stop with a checkpoint after this many minutes (rerun to continue)")
    p.set_defaults(handler=run, outputs={"out": "folder"})


def training_instruments(choice: str):
    """The instrument prior of ``train --instruments``: a named prior, none, or one training family."""
    from ..data import instruments as instr

    named = {"training": instr.TRAINING, "binary": instr.BINARY, "none": None}
    if choice in named:
        return named[choice]
    return dataclasses.replace(instr.TRAINING, families=((choice, 1.0),))


def run(args) -> int:
    from ..nn import TrainConfig, train

    enable_compilation_cache()
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
    except ValueError:
        raise DomainfitError(f"--widths {args.widths!r}: write filter counts separated by commas") from None
    fov_min, fov_max, fov_set = fov_option(args.fov)
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch, learning_rate=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup, pixel_size=units.parse_length(args.pixel_size, default_unit="nm"),
        in_pixels=args.input_pixels, widths=widths, norm=args.norm, fov_min=fov_min, fov_max=fov_max,
        fov_set=fov_set, augment=not args.no_augment, val_fraction=args.val_fraction, checkpoint_every=args.checkpoint_every,
        seed=args.seed, beta=args.beta, frozen_bn_steps=args.frozen_bn_steps, fill=args.fill,
        instruments=training_instruments(args.instruments), views=args.views,
    )  # fmt: skip
    limit = None if args.time_limit is None else 60.0 * args.time_limit
    report = train(args.data, args.out, config, progress=not args.no_progress, time_limit_s=limit)
    summary = {
        "out": str(report.out),
        "steps": report.steps,
        "resumed_from": report.resumed_from,
        "final_nll": report.losses[-1] if report.losses else None,
        "final_mse": report.mse[-1] if report.mse else None,
        "validation": report.val,
        "wall_time_s": round(report.wall_time_s, 3),
        "step_time_s": report.step_time_s,
    }

    def text() -> list[str]:
        val = f"; validation nll {report.val['nll']:.3f}, mse {report.val['mse']:.4f}" if report.val else ""
        last = f", last nll {report.losses[-1]:.3f}" if report.losses else ""
        return [f"trained to step {report.steps} of {config.total_steps} (resumed from {report.resumed_from}){last}{val}; "
                f"model in {report.out}/model.eqx"]  # fmt: skip

    emit(args, summary, text)
    return 0
