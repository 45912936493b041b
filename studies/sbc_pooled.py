"""Simulation-based calibration pooled over several held-out datasets: each set's figures and their sum.

`studies.sbc` runs on one dataset. One set of ~100 images measures a coverage of 0.90 to ±0.03 (one
binomial sd), so two sets drawn the same way can differ by 0.1 by chance; the claim rests on all of them.
This joins the JSONs of several `studies.sbc` runs with the same settings on datasets of different seeds
(each a different `--data`), reports each set's coverage, rank test and RMSE, the pooled ones, and a test
of whether the sets agree (χ² of each set's coverage count against the pooled rate), and draws the pooled
rank histograms with `studies.sbc.plot`.

  python -m studies.sbc_pooled docs/figures/sbc_default_seed13.json docs/figures/sbc_default_seed14.json \
      docs/figures/sbc_default_seed15.json --json docs/figures/sbc_default.json --plot docs/figures/sbc_default.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SAME = ("set", "chunks", "hdi", "chains", "warmup", "samples", "ranks", "stream", "emulator_bytes", "pooled_instrument",
        "sampler")
"""The settings every pooled run must share (the data may differ: that is the point)."""


def agreement(counts: list[tuple[int, int]]) -> dict:
    """χ² test that the sets' (covered, n) share one coverage rate: Σ (k_i − n_i p̂)² / (n_i p̂ (1 − p̂)),
    k − 1 degrees of freedom."""
    from scipy.stats import chi2

    k = np.array([c for c, _ in counts], float)
    n = np.array([m for _, m in counts], float)
    p = k.sum() / n.sum()
    stat = float(((k - n * p) ** 2 / (n * p * (1 - p))).sum()) if 0 < p < 1 else 0.0
    dof = len(counts) - 1
    return dict(chi2=stat, dof=dof, p_value=float(chi2.sf(stat, dof)) if dof else 1.0)


def pool(runs: list[dict]) -> dict:
    """{sets: per set (data, summary), summary: the pooled one, agreement: per parameter} of ``runs``
    (each a `studies.sbc` JSON). Refuses runs whose settings differ or that read the same dataset twice."""
    from studies.sbc import summarise

    first = runs[0]["run"]
    for r in runs[1:]:
        diff = [k for k in SAME if r["run"].get(k) != first.get(k)]
        if diff:
            raise SystemExit(f"runs with other settings cannot be pooled: {', '.join(diff)} differ")
    hashes = [r["run"].get("data_hash") for r in runs]
    if len(set(hashes)) < len(hashes):
        raise SystemExit("two of the runs read the same dataset: pool runs on different held-out datasets")
    n_ranks = int(first["ranks"])
    cases = [dict(c, data=r["info"]["data"]) for r in runs for c in r["cases"]]
    sets = [dict(data=r["info"]["data"], images=len(r["cases"]), summary=summarise(r["cases"], n_ranks)) for r in runs]
    pooled = summarise(cases, n_ranks)
    agree = {name: agreement([(s["summary"][name]["hdi_coverage"]["covered"], s["summary"][name]["hdi_coverage"]["n"])
                              for s in sets]) for name in pooled}
    return dict(run={k: first.get(k) for k in SAME if k in first}, sets=sets, summary=pooled, agreement=agree,
                cases=cases)


def main(argv=None) -> dict:
    from domainfit._files import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="JSONs of `studies.sbc` on different datasets")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.runs if not p.is_file()]
    if missing:
        raise SystemExit(f"no such SBC run: {', '.join(missing)} (write one with python -m studies.sbc … --json FILE)")
    runs = [json.loads(p.read_text()) for p in args.runs]
    out = pool(runs)
    for s in out["sets"]:
        line = "  ".join(f"{n} {v['hdi_coverage']['coverage']:.3f} (p {v['ranks']['p_value']:.2f})"
                         for n, v in s["summary"].items())
        print(f"{s['data']}: {s['images']} images  {line}")
    for name, v in out["summary"].items():
        c, u, a = v["hdi_coverage"], v["ranks"], out["agreement"][name]
        print(f"pooled {name:>6}: coverage {c['coverage']:.3f} [{c['interval_95'][0]:.3f}, {c['interval_95'][1]:.3f}] "
              f"(n {c['n']}), ranks χ² {u['chi2']:.1f}/{u['dof']} p {u['p_value']:.3g}, RMSE {v['rmse']:.3g} {v['unit']}; "
              f"sets agree: χ² {a['chi2']:.2f}/{a['dof']} p {a['p_value']:.2f}")
    if args.json is not None:
        atomic_write(args.json, json.dumps({k: v for k, v in out.items() if k != "cases"}, indent=1))  # cases: in each run's JSON
    if args.plot is not None:
        from studies.sbc import plot

        n = sum(s["images"] for s in out["sets"])
        plot(out["cases"], out["summary"], int(out["run"]["ranks"]),
             f"{out['run']['set']}: SBC on {n} held-out recorded images ({len(out['sets'])} datasets)", args.plot,
             float(out["run"]["hdi"]))
    return out


if __name__ == "__main__":
    main()
