"""tools/gpu_round.sh (issue 14): the GPU round runs from the source tree; here at 32² on CPU."""

import json
import os

import pytest
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the device script: run with -m slow before a device round (CI has no device)
def test_gpu_round_runs_at_a_tiny_size_and_reports_images_per_minute(tmp_path):
    # with PBB (GPU_ROUND_MINIMISER=pbb): the round passes the minimiser to generate, which records it
    env = dict(os.environ, GPU_ROUND_TINY="1", PYTHON=sys.executable, GPU_ROUND_MINIMISER="pbb")
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_round.sh"), str(tmp_path / "round")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "round" / "gpu_round.log").read_text()
    summary = json.loads((tmp_path / "round" / "gpu_round.json").read_text())
    gen = summary["generate"]["32"]
    assert gen["images"] == 4 and gen["images_per_minute"] > 0 and gen["wall_time_s"] > 0
    # the relaxed images are there, readable, with their parameters
    from domainfit.data import Dataset

    ds = Dataset(tmp_path / "round" / "data-32")
    assert len(ds) == 4 and ds.grid["cell_size"] == 4e-9
    assert summary["minimiser"] == "pbb" and "PBB" in ds.meta["identity"]["relax"]["minimiser"]
    (row,) = summary["simulator"]["rows"]
    assert row["n"] == 32 and row["field_ms"] > 0 and row["spectral_field_ms"] > 0
    assert "32² cells:" in proc.stdout and "relaxed images per minute" in proc.stdout
