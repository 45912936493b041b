"""What the commands share: option groups (argparse parents), the model and range arguments, the
compilation cache, and ``emit``, the one way a command prints its report or writes it as JSON.

No numerical import here at module level (``domainfit --help`` stays fast), and no command module.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import units
from .._files import atomic_write, check_figure_path, check_output, check_output_folder
from ..errors import DomainfitError

IMAGE_HELP = 'image file, or "example" for the shipped example (a simulated co-pt maze)'


def image_parent(*, flatten_help: str | None = "subtract a polynomial background (1 = plane)",
                 several: bool = False) -> argparse.ArgumentParser:
    """The image and how to read it: ``image``, ``--pixel-size``, ``--invert``, unless ``flatten_help`` is
    None ``--flatten`` (its default differs between commands, so its help is given), and ``--channel``,
    ``--level``, ``--force``, ``--page`` (``image_options``).
    ``several``: ``image`` takes one or more files (a list)."""
    p = argparse.ArgumentParser(add_help=False)
    if several:
        p.add_argument("image", type=Path, nargs="+", help=IMAGE_HELP + " Several images of one film (separate fields "
                       "of view, zero field) are estimated jointly.")
    else:
        p.add_argument("image", type=Path, help=IMAGE_HELP)
    p.add_argument("--pixel-size", help="pixel size with its unit, e.g. 15.6nm or 0.0156um; needed unless the file "
                   "carries it (TIFF tags, .npz)")  # fmt: skip
    p.add_argument("--invert", action="store_true", help="invert the contrast (e.g. MFM phase sign)")
    if flatten_help is not None:
        p.add_argument("--flatten", type=int, metavar="DEGREE", help=flatten_help)
    g = p.add_argument_group("reading the file (docs/spm.md)")
    g.add_argument("--channel", metavar="NAME",
                   help="channel of a scanning-probe file (.gwy, .ibw, .sxm, Nanoscope .spm/.000), e.g. 'Phase "
                        "(retrace)', NapPhaseRetrace or 'Frequency shift forward'; default: the MFM channel (lift-pass "
                        "phase or frequency shift, else phase, frequency shift, amplitude; retrace first). `domainfit "
                        "inspect FILE --channels` lists them")
    g.add_argument("--level", choices=("auto", "none", "median", "poly1", "poly2"), default="auto",
                   help="scan-line levelling before anything else: median (each line's offset, from the median of "
                        "line-to-line differences), poly1/poly2 (each line's polynomial), none; auto (default): median "
                        "for scanning-probe files, none for others")
    g.add_argument("--force", action="store_true",
                   help="use --pixel-size even where it contradicts the file's own calibration by more than 1 %%")
    g.add_argument("--page", type=int, metavar="K",
                   help="plane K (from 0) of a multi-page TIFF or a stack [k, y, x]; such files are refused without it")
    return p


def image_options(args) -> dict:
    """The reading options of ``image_parent`` as keywords of the workflow calls (``channel``, ``level``,
    ``force``, ``page``)."""
    return {"channel": args.channel, "level": args.level, "force": args.force, "page": args.page}


def json_parent() -> argparse.ArgumentParser:
    """``--json [FILE]``, the same in every command (see ``emit``)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="print the report as JSON on stdout instead of the text; with FILE, print the text and "
                        "write the JSON to FILE")  # fmt: skip
    return p


def progress_parent(help: str = "no progress bar") -> argparse.ArgumentParser:
    """``--no-progress`` (the bars go to stderr)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--no-progress", action="store_true", help=help)
    return p


def fix_parent(scoped: bool) -> argparse.ArgumentParser:
    """``--fix`` and ``--prior``, the same for ``estimate`` and ``compare`` (``parse_fix_options``);
    ``scoped``: each fixed value names its model (``compare``: MODEL:NAME=VALUE)."""
    p = argparse.ArgumentParser(add_help=False)
    form = "MODEL:NAME=VALUE" if scoped else "NAME=VALUE"
    example = "--fix fixed:sigma=0.1 --fix fixed:D=0.5mJ/m2" if scoped else "--fix Ku=1.6MJ/m3 --fix sigma=0.1"
    p.add_argument("--fix", action="append", default=[], metavar=form,
                   help=f"hold a parameter{' of one model' if scoped else ''} at a value with its unit, e.g. {example}")
    p.add_argument("--prior", type=Path, metavar="FILE.py",
                   help="Python file defining prior() or prior(box) that returns Prior specs (dict or list), a "
                        f"PriorModel or a numpyro prior function{' (the prior of every model)' if scoped else ''}")
    return p


def parse_fix_options(specs: list[str], *, models: Iterable[str] | None = None) -> dict:
    """``--fix`` values → SI: ``{NAME: value}``, or with ``models`` (``compare``) ``{MODEL: {NAME: value}}``.
    Units are required for dimensioned parameters (``units.parse_quantity``)."""
    fixes: dict = {} if models is None else {m: {} for m in models}
    for spec in specs:
        scope, name, value = units.parse_fix(spec, scoped=models is not None)
        target = fixes if scope is None else fixes.get(scope)
        if target is None:
            raise DomainfitError(f"--fix {spec!r}: no model named {scope!r} (models: {', '.join(fixes)})")
        if name in target:
            raise DomainfitError(f"--fix {name} given twice" + (f" for model {scope!r}" if scope else ""))
        target[name] = value
    return fixes


def check_prior_file(path: Path | None) -> None:
    if path is not None and not Path(path).is_file():
        raise DomainfitError(f"--prior {path}: no such file")


def json_on_stdout(args) -> bool:
    """Whether ``--json`` (or ``--json -``) replaces the text on stdout."""
    return getattr(args, "json", None) == "-"


INPUT_OPTIONS = ("image", "prior", "emulator", "model", "data", "film", "sets")
"""Options whose values may name files this run reads: no output may be one of them."""


def input_paths(args) -> list[Path]:
    """The existing files and folders among a command's inputs (``INPUT_OPTIONS``)."""
    out = []
    for name in INPUT_OPTIONS:
        value = getattr(args, name, None)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, Path)) and str(v) and Path(v).exists():
                out.append(Path(v))
    return out


def check_values(args) -> None:
    """Values argparse lets through empty: ``--pixel-size=--`` arrives as [] (argparse drops a "--")."""
    for name, value in vars(args).items():
        if isinstance(value, list) and not value and name in ("pixel_size", "lift", "resolution", "dmi_field",
                                                               "half_field", "channel"):
            raise DomainfitError(f"--{name.replace('_', '-')} needs a value" +
                                 (": the pixel size with its unit, e.g. 15.6nm" if name == "pixel_size" else ""))


def check_outputs(args) -> None:
    """Refuse, before any work, outputs the policy forbids (``_files.check_output``: a link, a folder or
    special file where a file goes, one of the run's inputs) or that cannot be written: ``--json FILE``
    and the command's own outputs, declared as ``outputs={option: "file" | "figure" | "folder"}`` in its defaults."""
    inputs = input_paths(args)
    declared = dict(getattr(args, "outputs", None) or {})
    if getattr(args, "json", None) not in (None, "-"):
        declared["json"] = "file"
    for option, kind in declared.items():
        value = getattr(args, option.replace("-", "_"), None)
        if value is None:
            continue
        what = f"--{option.replace('_', '-')}"
        if kind == "folder":
            check_output_folder(value, inputs=inputs, what=what)
        elif kind == "figure":
            check_figure_path(value, inputs=inputs, what=what)
        else:
            check_output(value, inputs=inputs, what=what)


def emit(args, report: dict | list, text: Iterable[str] | Callable[[], Iterable[str] | None]) -> None:
    """Print a command's result: the text, or with ``--json``/``--json -`` the JSON report on stdout
    instead; with ``--json FILE`` the text as usual and the JSON report written to FILE (atomically).

    ``text`` is the lines, or a function called only when the text is wanted that prints it (warnings
    on stderr included) or returns its lines."""
    dumped = json.dumps(report, indent=2, default=str)
    if json_on_stdout(args):
        print(dumped)
        return
    lines = text() if callable(text) else text
    for line in lines or ():
        print(line)
    if getattr(args, "json", None) is not None:
        atomic_write(args.json, dumped)


def load_model_arg(model_arg: str | None):
    """The ``--model`` argument: a model path, or the shipped model for ``default`` (or none)."""
    from ..nn import load_default, load_model

    return load_default() if model_arg in (None, "default") else load_model(model_arg)


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


def parse_range(name: str, text: str) -> tuple[float, float]:
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


def fov_option(text: str) -> tuple[float, float, tuple[float, ...] | None]:
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
