#!/usr/bin/env bash
# One prepared round on a GPU machine (issue 14): relaxed images per minute at 256² and 512² cells, and
# the effective-field evaluation against magnum.np when it is installed — all from the source tree, in
# under 10 minutes on an H200. Needs jax (with CUDA), equinox, optax, numpyro and h5py installed; it
# installs nothing.
#
#   tools/gpu_round.sh OUT_DIR            # the round: figures in OUT_DIR/gpu_round.json and .log
#   GPU_ROUND_TINY=1 tools/gpu_round.sh OUT_DIR   # the same steps at 32² on CPU (the test runs this)
#   GPU_ROUND_MINIMISER=pbb tools/gpu_round.sh OUT_DIR   # relax with PBB (generate --minimiser) instead of BB
#
# Each `domainfit generate` relaxes co-pt states (tol 1e-3, as the datasets) in vmapped batches; the
# images per minute come from its own report (relaxation and writing, compilation excluded by a first
# warm-up chunk). Figures go to docs/performance.md with the device that made them.
set -euo pipefail
out=${1:?usage: tools/gpu_round.sh OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
export DOMAINFIT_CACHE="$out/jax-cache"
py=${PYTHON:-python}
minimiser=${GPU_ROUND_MINIMISER:-bb}
if [ -n "${GPU_ROUND_TINY:-}" ]; then
  sizes="32"; count=4; batch=2; sim_sizes="32"
else
  sizes="256 512"; count=64; batch=16; sim_sizes="256 512"
fi
log="$out/gpu_round.log"
: > "$log"
$py - <<'EOF' >> "$log" 2>&1
import jax
print("devices:", jax.devices())
EOF
for n in $sizes; do
  data="$out/data-$n"
  rm -rf "$data"
  common=(--preset co-pt --dmi bulk --cells "$n" --tol 1e-3 --max-steps 6000 --chunk "$batch" --batch "$batch" --minimiser "$minimiser" --no-progress)
  # warm-up: one chunk compiles the batched relaxation (kept in the compilation cache)
  $py -m domainfit generate --out "$data-warm" "${common[@]}" --count "$batch" --seed 99 --json > "$out/warm-$n.json" 2>> "$log"
  $py -m domainfit generate --out "$data" "${common[@]}" --count "$count" --seed 7 --json > "$out/generate-$n.json" 2>> "$log"
  rm -rf "$data-warm"
done
peer=()
$py -c "import magnumnp" 2> /dev/null || peer=(--no-peer)
$py "$root/benchmarks/simulator.py" --sizes $sim_sizes --no-converge "${peer[@]}" --json "$out/simulator.json" >> "$log" 2>&1
$py - "$out" $sizes <<'EOF'
import json, os, sys
from pathlib import Path

out, sizes = Path(sys.argv[1]), sys.argv[2:]
import jax

summary = {"device": str(jax.devices()[0]), "minimiser": os.environ.get("GPU_ROUND_MINIMISER", "bb"), "generate": {}, "simulator": json.loads((out / "simulator.json").read_text())}
for n in sizes:
    rep = json.loads((out / f"generate-{n}.json").read_text())
    summary["generate"][n] = {"images": rep["samples_written"], "images_per_minute": 60 * rep["images_per_s"],
                              "not_converged": rep["not_converged"], "wall_time_s": rep["wall_time_s"]}
    print(f"{n}² cells: {60 * rep['images_per_s']:.1f} relaxed images per minute ({rep['samples_written']} images, "
          f"{rep['not_converged']} not converged)")
for row in summary["simulator"]["rows"]:
    peer = row.get("magnum_field_ms")
    print(f"{row['n']}² field evaluation {row['field_ms']:.3g} ms" + (f", magnum.np {peer:.3g} ms" if peer else ""))
(out / "gpu_round.json").write_text(json.dumps(summary, indent=2))
EOF
