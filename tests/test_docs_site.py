"""The documentation site builds in strict mode: no warning (broken link, missing page, docstring that
does not match its signature) passes."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_without_warnings(tmp_path):
    env = dict(os.environ, DISABLE_MKDOCS_2_WARNING="true")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    site = tmp_path / "site"
    for page in ("index.html", "examples/index.html", "notebooks/ta_wedge_trend/index.html",
                 "reference/inference/index.html"):
        assert (site / page).exists(), page
    api = (site / "reference" / "inference" / "index.html").read_text()
    assert "compare_trends" in api and "trend_prior" in api
    nb = (site / "notebooks" / "ta_wedge_trend" / "index.html").read_text()
    assert "One joint model over the series" in nb
