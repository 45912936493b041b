"""The five workflows' reference numbers, with their Monte-Carlo errors (issue 32, acceptance 2 and 4).

Runs each workflow exactly as the test that holds its numbers does (same settings, same keys) and
prints, per number, the value, its Monte-Carlo standard error (posterior means: sd/√ESS_bulk of the
run's own draws; log-evidences: the SMC runs' standard error) and, with ``--against FILE``, the change
from an earlier reference in units of the two runs' combined error. With ``--write FILE`` the numbers
become the new references (tests/data/reference_numbers.json, read by tests/reference_numbers.py), with
their Monte-Carlo errors (``_mc_error``) and the environment that made them (``_environment``: library
versions and CPU). In that environment the tests hold every number to 3 digits; in another (a new jax,
another CPU: NUTS trajectories are chaotic in the last bits of the log density) to |z| ≤ 4 in those errors.

  python -m studies.reference_numbers --against tests/data/reference_numbers.json --json out.json

Why a reference may be measured anew: a change that moves a posterior by less than its Monte-Carlo
error (compiling the posterior once, with the data as arguments instead of folded constants, changes
the last bits of the log density, and NUTS trajectories are chaotic in them) is not a change of result.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

PARAMETERS = ("D", "sigma", "Ms")
SMALL = dict(chains=1, samples=100, warmup=100, predictive=0)
"""The budget of tests/test_references.py."""


def environment() -> dict:
    """What the last bits of a posterior depend on: the numerical libraries' versions and the CPU
    (XLA compiles for the host's vector units)."""
    import platform
    from importlib.metadata import version

    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    libs = {lib: version(lib) for lib in ("jax", "jaxlib", "numpyro", "numpy", "equinox")}
    return dict(libs, machine=platform.machine(),
                vector_units=" ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags))


def _with_errors(report: dict, names=PARAMETERS) -> dict:
    out = {}
    for p in names:
        post = report["posterior"][p]
        ess = post.get("ess_bulk")
        mcse = 0.0 if post.get("fixed") or not ess else post["sd"] / math.sqrt(ess)
        out[p] = (post["mean"], mcse)
    return out


def measure() -> dict:
    """{workflow: {number: (value, Monte-Carlo error)}} (or a string for a chosen set)."""
    import domainfit as df
    from domainfit.cli import main as cli_main
    from domainfit.observations import parse_measurement
    from examples import quickstart
    from examples.ta_wedge import estimate_series, make_data

    out: dict = {}
    t0 = time.perf_counter()
    r = quickstart.main(quickstart.parse(["--tiny"]))
    out["estimate_example_posterior"] = _with_errors(r.report)
    with tempfile.TemporaryDirectory() as tmp:
        table_path = Path(tmp) / "table.json"
        cli_main(["compare", "example", "--particles", "200", "--runs", "2", "--json", str(table_path)])
        table = json.loads(table_path.read_text())
    out["compare_example"] = {n: (e["log_evidence"], e["error"]) for n, e in table["evidence"].items()}
    config = df.PosteriorConfig(**SMALL)
    r = df.estimate("example", posterior=config, sets=True, key=3)
    out["estimate_example_sets_posterior"] = dict(_with_errors(r.report), set=r.report["parameter_set"]["best"])
    ms = [parse_measurement("dmi_field", "28mT±3mT"), parse_measurement("half_field", "48mT±2mT")]
    r = df.estimate(["example", "example-512"], posterior=config, measurements=ms, key=4)
    out["estimate_two_images_dmi_half_field"] = _with_errors(r.report)
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as res:
        make_data.main(make_data.parse(["--tiny", "--out", data]))
        estimate_series.main(estimate_series.parse(["--tiny", "--data", data, "--out", res, "--series", "wedge",
                                                    "--first", "3"]))
        series = json.loads((Path(res) / "series.json").read_text())
    wedge = {}
    for row, report in zip(series["rows"], series["reports"].values()):
        wedge[f"{row['series']}-{row['position']}"] = _with_errors(report, ("D", "sigma"))
    out["ta_wedge_tiny_first_3"] = wedge
    out["_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def compare(now: dict, before: dict) -> list[dict]:
    """Per number: before, now, the Monte-Carlo error and z = (now − before) / (√2 · error)."""
    rows = []

    def walk(n, b, path):
        if isinstance(n, dict):
            for k in n:
                if k in b:
                    walk(n[k], b[k], f"{path}.{k}" if path else k)
        elif isinstance(n, (tuple, list)):
            value, err = n
            z = (value - float(b)) / (math.sqrt(2) * err) if err > 0 else (0.0 if value == float(b) else math.inf)
            rows.append(dict(number=path, before=float(b), now=value, mc_error=err, z=z))
        else:
            rows.append(dict(number=path, before=b, now=n, mc_error=None, z=None))

    for name in now:
        if not name.startswith("_") and name in before:
            walk(now[name], before[name], name)
    return rows


def _part(now: dict, index: int) -> dict:
    def strip(v):
        if isinstance(v, dict):
            return {k: x for k, x in ((k, strip(x)) for k, x in v.items()) if x is not None}
        if isinstance(v, (tuple, list)):
            return v[index]
        return v if index == 0 else None

    return {k: strip(v) for k, v in now.items() if not k.startswith("_")}


def values_only(now: dict) -> dict:
    return _part(now, 0)


def errors_only(now: dict) -> dict:
    """The Monte-Carlo error of each number (strings, such as a chosen set, have none)."""
    return _part(now, 1)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", help="an earlier reference file: report each change in Monte-Carlo errors")
    ap.add_argument("--json", help="write the numbers, errors and the comparison here")
    ap.add_argument("--write", help="write the values as the new reference file (with --about)")
    ap.add_argument("--about", default="", help="the reference file's _about text")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)

    from domainfit._files import atomic_write

    now = measure()
    result = dict(command="python -m studies.reference_numbers " + " ".join(sys.argv[1:] if argv is None else argv),
                  numbers=now)
    if args.against:
        rows = compare(now, json.loads(Path(args.against).read_text()))
        result["comparison"] = rows
        for r in rows:
            if r["z"] is None:
                print(f"{r['number']:45s} {r['before']!s:>12} → {r['now']!s:>12}")
            else:
                print(f"{r['number']:45s} {r['before']:12.5g} → {r['now']:12.5g}  MC error {r['mc_error']:.2g}  "
                      f"z {r['z']:+.2f}")
    if args.json:
        atomic_write(args.json, json.dumps(result, indent=1))
    if args.write:
        atomic_write(args.write, json.dumps(dict(_about=args.about, _environment=environment(),
                                                 _mc_error=errors_only(now), **values_only(now)), indent=1) + "\n")
    print(f"{now['_seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
