"""The outputs policy (issue 35): regular files only, never an input, a run's files together, and
SIGTERM unwinding as Ctrl-C does (no temporary file, exit 143)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import domainfit as df
from domainfit._files import atomic_write, check_output, staged_folder
from domainfit.errors import DomainfitError
from domainfit.reports import files as report_files


def test_atomic_write_refuses_links_and_special_files_and_keeps_their_targets(tmp_path):
    target = tmp_path / "target.json"
    target.write_text("keep")
    (tmp_path / "link.json").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    for name, words in (("link.json", "symbolic link"), ("fifo", "FIFO")):
        with pytest.raises(DomainfitError, match=words):
            atomic_write(tmp_path / name, "new")
    assert (tmp_path / "link.json").is_symlink() and target.read_text() == "keep"
    assert (tmp_path / "fifo").is_fifo()
    atomic_write(target, "new")  # a regular file is replaced
    assert target.read_text() == "new"


def test_an_output_that_is_an_input_is_refused_through_any_path(tmp_path, monkeypatch):
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    os.link(image, tmp_path / "hard.png")
    monkeypatch.chdir(tmp_path / "sub")
    for same in ("../a.png", str(image), "../sub/../a.png", "../hard.png"):
        with pytest.raises(DomainfitError, match="input"):
            check_output(same, inputs=[image])
    assert check_output("../b.png", inputs=[image])


def test_the_inspect_figure_never_overwrites_its_image(tmp_path):
    import numpy as np
    from PIL import Image

    path = tmp_path / "maze.png"
    maze = np.load(df.imaging.example_path("example"))["image"]
    Image.fromarray(((maze - maze.min()) / np.ptp(maze) * 255).astype(np.uint8)).save(path)
    before = path.read_bytes()
    result = df.inspect_image(path, pixel_size="8nm")
    with pytest.raises(DomainfitError, match="input"):
        result.figure(path)
    assert path.read_bytes() == before


def write(out, report, fail_at=None, check=None):
    """write_posterior_files with a fake posterior whose figures fail (an interrupt) at ``fail_at``."""
    class Idata:  # what the writer hands to the NetCDF and plot functions
        pass

    def fake(kind):
        def save(obj, path, **_):
            if kind == fail_at:
                raise KeyboardInterrupt
            atomic_write(path, f"{kind} of {report['run']}")
            return path
        return save

    patch = pytest.MonkeyPatch()
    patch.setattr(report_files, "save_netcdf", fake("netcdf"))
    patch.setattr(report_files.plots, "save_pair_plot", fake("pair"))
    patch.setattr(report_files.plots, "save_predictive_plot", fake("predictive"))
    patch.setattr(report_files.pages, "write_estimate_page", lambda path, *a, **k: atomic_write(path, "<html>"))
    try:
        return report_files.write_posterior_files(out, dict(report), idata=Idata(), check=check, config={"c": 1})
    finally:
        patch.undo()


def listing(out):
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_an_interrupted_run_leaves_the_previous_run_s_files_whole(tmp_path):
    out = tmp_path / "out"
    write(out, {"run": 1}, check={"z": 1})
    first = listing(out)
    assert set(first) >= {"report.json", "config.json", "idata.nc", "pair.png", "predictive.png"}
    for stage in ("netcdf", "pair", "predictive"):  # Ctrl-C at any file of the second run
        with pytest.raises(KeyboardInterrupt):
            write(out, {"run": 2}, fail_at=stage, check={"z": 1})
        assert listing(out) == first, stage  # no new idata.nc beside the old report.json, no staging folder
    write(out, {"run": 3})  # no predictive check this time: the older one is not left beside the new report
    third = listing(out)
    assert "predictive.png" not in third and third["pair.png"] == "pair of 3"
    assert json.loads(third["report.json"])["run"] == 3


def test_a_staged_folder_refuses_a_file_in_its_place(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(DomainfitError, match="not a folder"):
        with staged_folder(tmp_path / "out"):
            pass


SLOW_FSYNC = """
import os, sys, time
flag, out = sys.argv[2], sys.argv[1]
real = os.fsync
def slow(fd):
    if sys._getframe(1).f_code.co_name == "atomic_write":  # domainfit's writer, not a library's
        open(flag, "w").close()  # tell the test the write is under way
        time.sleep(30)
    real(fd)
os.fsync = slow
from domainfit.cli import run
sys.argv = ["domainfit", "inspect", "example", "--no-figure", "--json", out]
run()
"""


def test_sigterm_in_the_middle_of_a_write_leaves_no_file_and_exits_143(tmp_path):
    out, flag = tmp_path / "report.json", tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_FSYNC, str(out), str(flag)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not flag.exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "domainfit: terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["writing"]  # neither the file nor a temporary
