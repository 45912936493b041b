"""The data and CNN commands of the CLI: ``generate``, ``train``, ``evaluate``, ``estimate``.

Thin shells over ``domainfit.data`` and ``domainfit.nn``; user units are converted here (and in
``units``) only. ``cli.build_parser`` registers them with ``add_commands``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

from . import units
from ._files import atomic_write
from .errors import UNTRUSTWORTHY_EXIT, DomainfitError

_RANGE_UNITS = {"D": "mJ/m²", "Ms": "kA/m", "sigma": "dimensionless", "Ku": "MJ/m³", "A": "pJ/m"}


def enable_compilation_cache() -> None:
    """Keep compiled XLA programs on disk (``$DOMAINFIT_CACHE`` or ~/.cache/domainfit/jax), so a
    rerun or a second ``estimate`` skips compilation. A user's own JAX_COMPILATION_CACHE_DIR wins."""
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.environ.get("DOMAINFIT_NO_CACHE"):
        return
    if jax.config.jax_compilation_cache_dir:  # already chosen by the caller
        return
    folder = os.environ.get("DOMAINFIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "domainfit", "jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _parse_range(name: str, text: str) -> tuple[float, float]:
    """'lo:hi' or 'value' in the user unit of ``name`` → (lo, hi) in SI."""
    parts = str(text).split(":")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise DomainfitError(f"--{name} {text!r}: write a range as low:high (e.g. 0.1:1.0) or one value") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or values[1] < values[0]:
        raise DomainfitError(f"--{name} {text!r}: need low:high with finite low ≤ high")
    if name == "sigma":
        return values[0], values[1]
    return units.to_si(name, values[0]), units.to_si(name, values[1])


def _fov_option(text: str) -> tuple[float, float, tuple[float, ...] | None]:
    """``--fov`` of ``train``: ``low:high`` (a range) or ``a,b,c`` (a set) in µm → (low, high, set) [m]."""
    text = str(text)
    if "," in text and ":" not in text:
        fovs = tuple(units.parse_length(p, default_unit="um") for p in text.split(","))
        return min(fovs), max(fovs), fovs
    parts = text.split(":")
    if len(parts) != 2:
        raise DomainfitError(f"--fov {text!r}: write low:high (a range) or a,b,c (a set) in µm, e.g. 0.5:2.048")
    lo, hi = (units.parse_length(p, default_unit="um") for p in parts)
    if hi < lo:
        raise DomainfitError(f"--fov {text!r}: need low ≤ high")
    return lo, hi, None


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="simulate a training dataset (resumable, shardable)",
        description="Draw (D, Ms, σ, Ku, A) from a prior box, relax random states in batches and store "
        "m_z and rendered images with their parameters and seeds in a chunked HDF5 dataset folder. "
        "Killed and rerun with the same command, it completes the missing chunks only; a folder holding "
        "another configuration is refused. Ranges are low:high in user units (one value fixes it).",
    )
    p.add_argument("--out", type=Path, required=True, help="dataset folder (created; rerun to resume)")
    p.add_argument("--count", type=int, required=True, help="number of samples in the whole dataset")
    p.add_argument("--preset", default="mix", help="prior: mix (default: co-pt and low-ms, ½ each), co-pt, low-ms")
    for name, unit in _RANGE_UNITS.items():
        p.add_argument(f"--{name}", metavar="LO:HI", help=f"range of {name} [{unit}] (all prior components)")
    p.add_argument("--cells", type=int, default=512, help="grid cells per side (default 512)")
    p.add_argument("--ny", type=int, help="cells along y if different from --cells")
    p.add_argument("--cell-size", type=float, default=4.0, help="cell size [nm] (default 4)")
    p.add_argument("--thickness", type=float, default=4.0, help="film thickness [nm] (default 4)")
    p.add_argument("--grain-size", type=float, default=20.0, help="grain size [nm] (default 20)")
    p.add_argument("--dmi", choices=["interfacial", "bulk"], default="bulk",
                   help="DMI kind (default bulk: the co-pt preset's, as in the imaging-scale paper; docs/physics.md)")
    p.add_argument("--tol", type=float, default=1e-4, help="stop at max |m×H|/Ms < tol (default 1e-4)")
    p.add_argument("--max-steps", type=int, default=20_000, help="minimiser step limit; samples that reach it are kept and flagged")
    p.add_argument("--image-pixel-size", type=float, default=16.0, help="pixel size of the stored rendered image [nm] (default 16)")
    p.add_argument("--chunk", type=int, default=64, help="samples per chunk file (default 64)")
    p.add_argument("--batch", type=int, help="samples relaxed together per device (speed only; default 1 on CPU, 8 on GPU)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--shard", default="0/1", help="i/n: this job writes chunks j with j mod n = i (default 0/1)")
    p.add_argument("--no-mz", action="store_true", help="do not store m_z at the cell size (images only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (on stderr: images/s and ETA; "
                   "every 30 s when stderr is not a terminal)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(handler=_generate)


def _generate(args) -> int:
    from .data import GenerateConfig, generate, parse_shard, preset_prior, with_bounds

    enable_compilation_cache()
    prior = preset_prior(args.preset)
    bounds = {n: _parse_range(n, getattr(args, n)) for n in _RANGE_UNITS if getattr(args, n) is not None}
    if bounds:
        prior = with_bounds(prior, **bounds)
    for name in ("cell_size", "thickness", "grain_size", "image_pixel_size"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise DomainfitError(f"--{name.replace('_', '-')} {v}: need a finite positive length in nm")
    config = GenerateConfig(
        count=args.count, prior=prior, cells=(args.cells, args.ny if args.ny is not None else args.cells),
        cell_size=units.to_si("length", args.cell_size), thickness=units.to_si("length", args.thickness),
        grain_size=units.to_si("length", args.grain_size), dmi=args.dmi, tol=args.tol, max_steps=args.max_steps,
        image_pixel_size=units.to_si("length", args.image_pixel_size), chunk_size=args.chunk, seed=args.seed,
        store_mz=not args.no_mz,
    )  # fmt: skip
    report = generate(
        args.out, config, shard=parse_shard(args.shard), batch_size=args.batch, progress=not args.no_progress,
    )  # fmt: skip
    summary = {
        "out": str(report.out),
        "chunks_written": report.chunks_written,
        "samples_written": report.samples_written,
        "chunks_present": report.chunks_present,
        "chunks_total": report.chunks_total,
        "not_converged": report.not_converged,
        "wall_time_s": round(report.wall_time_s, 3),
        "images_per_s": round(report.images_per_s, 4) if report.samples_written else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        rate = f" ({report.images_per_s:.3g} images/s)" if report.samples_written else ""
        print(
            f"wrote {report.chunks_written} chunks ({report.samples_written} samples) in {report.wall_time_s:.1f} s{rate}; "
            f"{report.out} holds {report.chunks_present}/{report.chunks_total} chunks; "
            f"{report.not_converged} written samples not converged (kept, flagged)"
        )
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(handler=_train)


def _training_instruments(choice: str):
    """The instrument prior of ``train --instruments``: a named prior, none, or one training family."""
    from .data import instruments as instr

    named = {"training": instr.TRAINING, "binary": instr.BINARY, "none": None}
    if choice in named:
        return named[choice]
    return dataclasses.replace(instr.TRAINING, families=((choice, 1.0),))


def _train(args) -> int:
    from .data import instruments as instr
    from .nn import TrainConfig, train

    enable_compilation_cache()
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
    except ValueError:
        raise DomainfitError(f"--widths {args.widths!r}: write filter counts separated by commas") from None
    fov_min, fov_max, fov_set = _fov_option(args.fov)
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch, learning_rate=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup, pixel_size=units.parse_length(args.pixel_size, default_unit="nm"),
        in_pixels=args.input_pixels, widths=widths, norm=args.norm, fov_min=fov_min, fov_max=fov_max,
        fov_set=fov_set, augment=not args.no_augment, val_fraction=args.val_fraction, checkpoint_every=args.checkpoint_every,
        seed=args.seed, beta=args.beta, frozen_bn_steps=args.frozen_bn_steps, fill=args.fill,
        instruments=_training_instruments(args.instruments), views=args.views,
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
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        val = f"; validation nll {report.val['nll']:.3f}, mse {report.val['mse']:.4f}" if report.val else ""
        last = f", last nll {report.losses[-1]:.3f}" if report.losses else ""
        print(f"trained to step {report.steps} of {config.total_steps} (resumed from {report.resumed_from}){last}{val}; "
              f"model in {report.out}/model.eqx")
    return 0


def _load(model_arg: str):
    from .nn import load_default, load_model

    return load_default() if model_arg in (None, "default") else load_model(model_arg)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy and calibration of a CNN on a held-out dataset",
        description="RMSE, bias and 90 % interval coverage per parameter, overall and per field of view, "
        "in user units (D mJ/m², Ms kA/m, σ dimensionless), and a set-versus-estimate PNG per parameter.",
    )
    p.add_argument("--model", default="default", help="model (.eqx, .json or training folder; default: the shipped one)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--fov", help="fields of view [µm], comma separated (default 0.5,1,1.5 and the full image)")
    p.add_argument("--plots", type=Path, help="folder for set_vs_estimate_{D,Ms,sigma}.png")
    p.add_argument("--split", choices=["all", "val"], default="all", help="all samples, or the validation split of training")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    p.add_argument("--single-view", action="store_true", help="read each tile once (as estimate --single-view)")
    p.set_defaults(handler=_evaluate)


def _evaluate(args) -> int:
    from .nn import evaluate
    from .nn.train import validation_mask

    enable_compilation_cache()
    from .data import Dataset

    loaded = _load(args.model)
    ds = Dataset(args.data)
    rows = None
    if args.split == "val":
        frac = loaded.meta.get("training", {}).get("config", {}).get("val_fraction", 0.1)
        import numpy as np

        rows = np.nonzero(validation_mask(ds.index, frac))[0]
    fovs = None
    if args.fov:
        fovs = tuple(units.parse_length(f, default_unit="um") for f in args.fov.split(","))
    report = evaluate(loaded, ds, fields_of_view=fovs, rows=rows, plots=args.plots, symmetries=False if args.single_view else None)
    report["model"] = str(loaded.path)
    report["data"] = str(args.data)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for t, e in report["parameters"].items():
            unit = "" if e["unit"] == "1" else " " + e["unit"]
            if e.get("fixed"):
                print(f"{t:>5}: not estimated (held at {e['value']:.4g}{unit} in training)")
                continue
            for f, m in e["per_field_of_view"].items():
                new = " (not trained)" if m.get("trained") is False else ""
                print(f"{t:>5} @ {f:>8}: RMSE {m['rmse']:.4g}{unit}, bias {m['bias']:+.3g}{unit}, "
                      f"90% coverage {m['coverage90']:.2f}{new}")  # fmt: skip
            print(f"{t:>5}: RMSE {e['rmse']:.4g}{unit}, bias {e['bias']:+.3g}{unit}, 90% coverage {e['coverage90']:.2f}")
            for g in e.get("scale_generalisation", []):
                print(f"{t:>5} @ {g['field_of_view_um']:.3g} µm (not trained): RMSE {g['ratio']:.2f}× that interpolated "
                      f"between the neighbouring trained scales")  # fmt: skip
    return 0


INSTRUMENT_CHOICES = ("ideal", "gaussian", "mfm", "probe", "lorentzian", "kerr")
"""Instrument families a user can name (``data.instruments.FAMILIES`` without the bound's ``binary``)."""


def _add_estimate(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimate D, Ms and σ from one domain image (CNN)",
        description="Estimate D [mJ/m²], Ms [kA/m] and σ (dimensionless) with their spread from one image "
        "(PNG, TIFF, .npy/.npz) of any size: it is resampled to the model's pixel size and tiled. "
        "With --posterior the CNN estimate seeds a Bayesian refinement (MAP, then NUTS on the emulator "
        "likelihood) that reports credible intervals, diagnostics and a posterior-predictive check.",
    )
    p.add_argument("image", type=Path, help="image file, or \"example\" for the shipped example (a simulated co-pt maze)")
    p.add_argument("--pixel-size", help="pixel size with its unit, e.g. 15.6nm or 0.0156um; "
                   "needed unless the file carries it")  # fmt: skip
    p.add_argument("--model", default="default", help="model (.eqx, .json or training folder; default: the shipped one)")
    p.add_argument("--invert", action="store_true", help="invert the contrast (e.g. MFM phase)")
    p.add_argument("--flatten", type=int, help="subtract a polynomial background of this degree first "
                   "(default: the model's, 2 for models trained on instrument views; it removes one itself too)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE ('-' for stdout)")
    p.add_argument("--single-view", action="store_true",
                   help="read each tile once instead of in its 16 symmetric versions (rotations, reflections, sign)")
    p.add_argument("--instrument", choices=INSTRUMENT_CHOICES,
                   help="the kind of instrument that recorded the image, when known: its own spread calibration "
                        "is used (docs/imaging.md: ideal/gaussian = XMCD, X-ray, PEEM, Kerr; mfm; probe = stray-field "
                        "sensor; lorentzian, kerr)")
    p.add_argument("--lift", help="MFM lift or sensor height above the film, e.g. 25nm (checked against training; with "
                   "--instrument and --resolution the spreads follow the calibration at these settings)")
    p.add_argument("--resolution", help="instrument resolution (point-spread FWHM: tip or sensor size), e.g. 30nm "
                   "(checked against training; used by the spread calibration as --lift is)")
    from ._cli_posterior import add_posterior_arguments

    add_posterior_arguments(p)
    p.set_defaults(handler=_estimate)


def _estimate(args) -> int:
    t0 = time.perf_counter()
    enable_compilation_cache()
    from . import imaging
    from ._cli_posterior import StageBar, prepare_posterior, resolve_options, run_posterior
    from .nn import estimate

    pixel_size = imaging.parse_pixel_size(args.pixel_size)
    if args.json not in (None, "-") and not Path(args.json).parent.exists():
        raise DomainfitError(f"cannot write {args.json}: folder {Path(args.json).parent} does not exist")
    opts = resolve_options(args)  # every --posterior option is checked before any work
    bar = StageBar(2, enabled=args.posterior and not args.no_progress)
    loaded = _load(args.model)
    # A model trained on instrument views reads images with their background removed: do it before
    # the loader's contrast scaling clips the brightest and darkest pixels, as training did.
    flatten = args.flatten if args.flatten is not None else loaded.flatten
    image = imaging.load(args.image, pixel_size=pixel_size, invert=args.invert, flatten=flatten)
    if args.posterior:
        opts = prepare_posterior(args, opts, loaded)
    t1 = time.perf_counter()
    bar("CNN estimate")
    settings = instrument_settings(args, loaded)
    result = estimate(loaded, image.data, image.pixel_size, symmetries=False if args.single_view else None,
                      family=args.instrument, settings=settings["settings"])
    if settings["reasons"] or settings["warnings"] or image.notes:
        result = dataclasses.replace(result, reasons=result.reasons + tuple(settings["reasons"]),
                                     warnings=result.warnings + tuple(settings["warnings"]) + image.notes)
    report = result.to_json()
    if settings["given"]:
        report["instrument"] = settings["given"]
    report["model"] = {
        "path": str(loaded.path),
        "pixel_size_nm": loaded.pixel_size * 1e9,
        "input_pixels": loaded.in_pixels,
        "training_steps": loaded.meta.get("training", {}).get("steps"),
        "data_hash": loaded.meta.get("training", {}).get("data_hash"),
    }
    report["image"] = {"path": str(args.image), "shape": list(image.shape), "pixel_size_nm": image.pixel_size * 1e9}
    report["timing"] = {"estimate_s": round(result.wall_time_s, 4), "total_s": round(time.perf_counter() - t0, 4),
                        "load_s": round(t1 - t0, 4)}  # fmt: skip
    names = {"D": "D", "Ms": "Ms", "sigma": "σ"}
    lines = []
    for t, e in report["parameters"].items():
        unit = "" if e["unit"] == "1" else " " + e["unit"].replace("^2", "²")
        if e.get("fixed"):
            lines.append(f"{names.get(t, t):>2} = {e['mean']:.4g}{unit} (not estimated: the model's training set held it fixed)")
        else:
            lines.append(f"{names.get(t, t):>2} = {e['mean']:.4g} ± {e['sd']:.2g}{unit}")
    if args.posterior:
        lines = ["CNN estimate:", *lines, *run_posterior(args, opts, loaded, image, result, report, bar)]
        report["timing"]["total_s"] = round(time.perf_counter() - t0, 4)
        # Warnings of the posterior that say its intervals should not be believed (sampler
        # diagnostics, emulator extrapolation, a failed predictive check) lead the output.
        report["reasons"] = report["reasons"] + report.pop("posterior_reasons")
        report["trustworthy"] = not report["reasons"]
    reasons = report["reasons"]
    if reasons:
        lines = ["NOT TRUSTWORTHY — do not rely on these numbers:", *(f"  - {r}" for r in reasons), *lines]
    text = json.dumps(report, indent=2)
    if args.json == "-":
        print(text)
    else:
        print("\n".join(lines))
        views = f" × {report['views_per_tile']} symmetric views" if report["views_per_tile"] > 1 else ""
        spreads = {"pooled": "spreads pooled over the training instruments (name yours: --instrument)",
                   "family": f"spreads calibrated for {result.family} images",
                   "family and settings": f"spreads calibrated for {result.family} images at the given settings"}
        how = spreads.get(result.spread_calibration, "") if loaded.instruments is not None else ""
        print(f"({report['tiles']} tiles{views} of {loaded.in_pixels}² px at {loaded.pixel_size * 1e9:.3g} nm, "
              f"{how + ', ' if how else ''}{report['timing']['total_s']:.1f} s)")
        for warning in report.get("warnings", result.warnings):
            if warning not in reasons:
                print(f"warning: {warning}", file=sys.stderr)
        if args.json:
            atomic_write(args.json, text)
    return UNTRUSTWORTHY_EXIT if reasons else 0


def instrument_settings(args, loaded) -> dict:
    """The instrument settings the user gave (``--lift``, ``--resolution``) in nm, and reasons not
    to trust the estimate when they lie outside what the model was trained on for that family."""
    from .data.instruments import FAMILY_RANGES

    given, reasons, warnings, settings = {}, [], [], {}
    if args.instrument:
        given["family"] = args.instrument
    prior = loaded.instruments
    trained = set(prior.family_names()) if prior is not None else set()
    if args.instrument and prior is not None and args.instrument not in trained:
        warnings.append(f"the network was never trained on {args.instrument} images (it was on: "
                        f"{', '.join(sorted(trained))}): the estimate relies on what it learnt from the others")
    for name, text, key in (("height", args.lift, "lift"), ("resolution", args.resolution, "resolution")):
        if text is None:
            continue
        if not args.instrument:
            raise DomainfitError(f"--{key} needs --instrument (which kind of instrument it belongs to)")
        value = units.parse_length(text, default_unit="nm")
        given[f"{key}_nm"] = value * 1e9
        settings[name] = value
        lo, hi = FAMILY_RANGES.get(args.instrument, {}).get(name, (None, None))
        if lo is None:
            raise DomainfitError(f"--{key} does not apply to a {args.instrument} instrument")
        if not lo * 1e-9 <= value <= hi * 1e-9:
            reasons.append(f"{key} {value * 1e9:.3g} nm is outside the {args.instrument} settings the network was "
                           f"trained on ({lo:.3g}–{hi:.3g} nm)")
    return {"given": given, "reasons": reasons, "warnings": warnings, "settings": settings or None}


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the CNN's spread factors on held-out images so that its 90 %% intervals hold",
        description="Estimate the held-out images of a dataset (by default the validation split of the model's "
        "training set) at the training fields of view, and store in the model JSON one factor per parameter on "
        "the predicted spread: the 90 % quantile of |estimate − truth|/sd over 1.645. estimate and evaluate "
        "apply it. Calibrate on data the model was not trained on, never on the test set.",
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the calibration record as JSON")
    p.set_defaults(handler=_calibrate)


def _calibrate(args) -> int:
    import numpy as np

    from .data import Dataset
    from .nn import calibrate_spread, load_model

    enable_compilation_cache()
    loaded = load_model(args.model)
    ds = Dataset(args.data)
    rows = np.arange(len(ds)) if args.split == "all" else None
    if args.first is not None:
        if args.first < 1:
            raise DomainfitError(f"--first {args.first}: need a positive sample count")
        if rows is None:
            from .nn.train import validation_mask

            rows = np.nonzero(validation_mask(ds.index, loaded.meta.get("training", {}).get("config", {}).get("val_fraction", 0.1)))[0]
        rows = rows[np.asarray(ds.index)[rows] < args.first]
    fovs = tuple(units.parse_length(f, default_unit="um") for f in args.fov.split(",")) if args.fov else None
    if args.draws < 1:
        raise DomainfitError(f"--draws {args.draws}: need at least 1")
    record = calibrate_spread(loaded, ds, rows=rows, fields_of_view=fovs, level=args.level, draws=args.draws,
                              seed=args.seed, progress=not args.no_progress)  # fmt: skip
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        factors = ", ".join(f"{t} × {f:.3g}" for t, f in record["factors"].items())
        print(f"spread factors ({record['rows']} images, {len(record['fields_of_view_um'])} fields of view): {factors}")
        for fam, per in record.get("per_family", {}).items():
            print(f"  {fam}: " + ", ".join(f"{t} × {f:.3g}" for t, f in per.items()))
        if "support" in record:
            s = record["support"]
            print(f"support reference ({s['views']} views, periods {s['period_nm'][0]:.0f}–{s['period_nm'][1]:.0f} nm, "
                  f"feature limit {s['feature_limit']:.3g}) in {s['file']}")
        print(f"written to {Path(loaded.path).with_suffix('.json')}")
    return 0


def add_commands(sub) -> None:
    """Register generate, train, evaluate, calibrate and estimate on an argparse subparsers object."""
    _add_generate(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_calibrate(sub)
    _add_estimate(sub)
