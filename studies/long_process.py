"""One process, many estimates: do memory mappings, RSS and compilations stay flat? (issue 32, acceptance 4)

Runs ``df.estimate(IMAGE, posterior=...)`` ``--calls`` times in this process (keys 0, 1, …) and records
after each call the memory mappings the process holds (/proc/self/maps), its resident memory and the
XLA compilations the call made (``jax_log_compiles``), by the name of the compiled function. With
``--sizes K`` the calls cycle through K crops of the image (its side, then 8, 16, … pixels less), so
that images of other sizes are measured too.

  python -m studies.long_process --calls 100 --json docs/figures/long_process.json
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import platform
import re
import sys
import time

COMPILED = re.compile(r"Finished XLA compilation of (\S+)")


class _CompileCounter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.names: collections.Counter = collections.Counter()

    def emit(self, record):
        m = COMPILED.search(record.getMessage())
        if m:
            self.names[m.group(1)] += 1


def mapping_count() -> tuple[int, int] | None:
    """(memory mappings this process holds, the kernel's limit vm.max_map_count), or None without /proc."""
    try:
        with open("/proc/self/maps", "rb") as f:
            used = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            return used, int(f.read().strip())
    except (OSError, ValueError):
        return None


def resident_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default="example")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--predictive", type=int, default=0)
    ap.add_argument("--sizes", type=int, default=1, help="cycle through this many image sizes (8 px apart)")
    ap.add_argument("--json", help="write the rows and the settings here")
    ap.add_argument("--plot", help="write a figure of mappings and resident memory per call here (PNG)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)

    import jax

    import numpy as np

    import domainfit as df
    from domainfit._files import atomic_write
    from domainfit.imaging import DomainImage
    from domainfit.workflows.inputs import read_image

    image = read_image(args.image)
    full = np.asarray(image.data)
    crops = [DomainImage(np.ascontiguousarray(full[: full.shape[0] - 8 * k, : full.shape[1] - 8 * k]), image.pixel_size)
             for k in range(args.sizes)]
    jax.config.update("jax_log_compiles", True)
    counter = _CompileCounter()
    for name in ("jax._src.dispatch", "jax._src.interpreters.pxla"):  # "Finished XLA compilation", "Compiling"
        log = logging.getLogger(name)
        log.addHandler(counter)
        log.setLevel(logging.WARNING)
        log.propagate = False  # counted, not printed
    config = df.PosteriorConfig(chains=args.chains, samples=args.samples, warmup=args.warmup,
                                predictive=args.predictive)
    rows = []
    for i in range(args.calls):
        counter.names.clear()
        t0 = time.perf_counter()
        crop = crops[i % len(crops)]
        df.estimate(crop, posterior=config, key=i)
        used, limit = mapping_count() or (-1, -1)
        rows.append(dict(call=i, side_px=int(crop.data.shape[0]), mappings=used, rss_mib=round(resident_mib(), 1), seconds=round(time.perf_counter() - t0, 2),
                         compilations=sum(counter.names.values()), compiled=dict(counter.names)))
        print(f"call {i:3d}: {used:6d} mappings, {rows[-1]['rss_mib']:7.1f} MiB, {rows[-1]['compilations']:2d} "
              f"compilations, {rows[-1]['seconds']:5.1f} s", flush=True)
    out = dict(command="python -m studies.long_process " + " ".join(argv), rows=rows, **summarise(rows),
               limit=limit, machine=dict(platform=platform.platform(), cpus=os.cpu_count()))
    print(f"after the first 5 calls: {out['mappings_per_call']:+.0f} mappings, {out['rss_mib_per_call']:+.1f} MiB and "
          f"{out['compilations_per_call']:.0f} compilations per call (median); from call 5 to the last "
          f"{out['mappings_growth']:+d} mappings, {out['rss_mib_growth']:+.1f} MiB; limit {limit}")
    if args.json:
        atomic_write(args.json, json.dumps(out, indent=1))
    if args.plot:
        plot(out, args.plot)
    return out


def summarise(rows: list[dict]) -> dict:
    """Per-call medians after the first 5 calls, and the change from call 5 to the last."""
    import numpy as np

    late = list(zip(rows[5:], rows[6:]))
    if not late:
        nan = float("nan")
        return dict(mappings_per_call=nan, rss_mib_per_call=nan, compilations_per_call=nan, mappings_growth=nan,
                    rss_mib_growth=nan, median_seconds=nan)
    return dict(mappings_per_call=float(np.median([b["mappings"] - a["mappings"] for a, b in late])),
                rss_mib_per_call=float(np.median([b["rss_mib"] - a["rss_mib"] for a, b in late])),
                compilations_per_call=float(np.median([b["compilations"] for _, b in late])),
                mappings_growth=rows[-1]["mappings"] - rows[5]["mappings"],
                rss_mib_growth=round(rows[-1]["rss_mib"] - rows[5]["rss_mib"], 1),
                median_seconds=float(np.median([r["seconds"] for r in rows[1:]])))


def plot(out: dict, path) -> None:
    """Mappings (with the kernel's limit and the release level) and resident memory against the call."""
    from domainfit._files import pyplot, save_figure

    plt = pyplot()
    calls = [r["call"] for r in out["rows"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=120)
    a.plot(calls, [r["mappings"] / 1e3 for r in out["rows"]], ".-")
    if out["limit"] > 0:
        a.axhline(out["limit"] / 1e3, color="C3", lw=1, ls="--", label="the kernel's limit (vm.max_map_count)")
        a.set_ylim(0, out["limit"] * 1.08 / 1e3)
        a.legend(frameon=False, loc="center right")
    a.set(xlabel="estimate call in one process", ylabel="memory mappings [thousands]")
    b.plot(calls, [r["rss_mib"] for r in out["rows"]], ".-", color="C1")
    b.set(xlabel="estimate call in one process", ylabel="resident memory [MiB]",
          ylim=(0, 1.15 * max(r["rss_mib"] for r in out["rows"])))
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
