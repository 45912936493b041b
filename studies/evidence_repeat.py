"""Is the evidence's error bar honest? The sets' comparison repeated with independent keys.

`domainfit compare` states log Z ± error per model, the error being the standard error over its
independent SMC runs. Here each held-out recorded image (odd chunks of the sets' datasets, recorded
as `studies/set_comparison.py` records them: the same instrument stream, so the same images) is
compared twice with the shipped set emulators and two unrelated keys. For every image and set the
two estimates differ by Δ; if the stated errors e₁, e₂ are right, z = Δ / √(e₁² + e₂²) has unit
spread. Reported: the rms of z (issue 16: the repeated runs' spread within 2× the stated error, i.e.
rms z ≤ 2), the share of |z| ≤ 2, and how often the two repeats reach the same verdict.

  python -m studies.evidence_repeat --copt ~/domainfit-data/coptd0_512 --lowms ~/domainfit-data/lowms512 \
      --max-images 10 --json docs/figures/evidence_repeat.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

def main() -> None:
    import domainfit as df
    from domainfit._files import atomic_write
    from domainfit.workflows.compare import model_emulators, shipped_sets
    from domainfit.data.store import Dataset
    from domainfit.errors import DomainfitError
    from domainfit.nn import load_default
    from domainfit.data.splits import chunk_rows, held_out_view

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copt", required=True)
    ap.add_argument("--lowms", required=True)
    ap.add_argument("--max-images", type=int, default=10, help="held-out images per set (default 10)")
    ap.add_argument("--particles", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    loaded = load_default()
    emulators = {n: e for n, (e, _) in model_emulators(shipped_sets()).items()}
    results = []
    for name, path in (("co-pt", args.copt), ("low-ms", args.lowms)):
        ds = Dataset(path)
        rows = chunk_rows(ds, 1)[: args.max_images]
        for r in rows:
            u, inst = held_out_view(ds, r)
            repeats = []
            try:
                for key in (int(r), 10_000 + int(r)):
                    c = df.compare(u, pixel_size=inst.pixel_size, models=emulators, preset=None, cnn=loaded,
                                   particles=args.particles, runs=args.runs, key=key)
                    repeats.append(c.table)
            except DomainfitError as err:
                results.append(dict(set=name, index=int(ds.index[r]), error=str(err)))
                continue
            row = dict(set=name, index=int(ds.index[r]), family=inst.name,
                       verdicts=[(t["best"], bool(t["decided"])) for t in repeats], models={})
            for model in repeats[0]["evidence"]:
                (a, ea), (b, eb) = ((t["evidence"][model]["log_evidence"], t["evidence"][model]["error"]) for t in repeats)
                row["models"][model] = dict(log_z=[a, b], error=[ea, eb], z=(a - b) / float(np.hypot(ea, eb)))
            results.append(row)
            print(f"{name} #{row['index']}: " + "; ".join(f"{m} {v['log_z'][0]:.2f}±{v['error'][0]:.2f} / "
                  f"{v['log_z'][1]:.2f}±{v['error'][1]:.2f} (z {v['z']:+.2f})" for m, v in row["models"].items()),
                  flush=True)  # fmt: skip
    z = np.array([v["z"] for x in results if "models" in x for v in x["models"].values()])
    same = [x["verdicts"][0] == x["verdicts"][1] for x in results if "models" in x]
    summary = dict(n_images=len(same), n_estimates=int(z.size), rms_z=float(np.sqrt(np.mean(z**2))),
                   share_abs_z_le_2=float(np.mean(np.abs(z) <= 2)), same_verdict=float(np.mean(same)),
                   refused=sum("models" not in x for x in results))
    print(json.dumps(summary, indent=1))
    if args.json:
        atomic_write(args.json, json.dumps(dict(summary=summary, results=results,
                                                settings=dict(particles=args.particles, runs=args.runs),
                                                machine=dict(platform=platform.platform(), cpus=os.cpu_count()),
                                                wall_time_s=round(time.perf_counter() - t0, 1)), indent=1))


if __name__ == "__main__":
    main()
