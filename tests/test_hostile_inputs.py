"""Hostile input, tried as a new user would (issue 35): every case ends in a one-line error (exit 2), an
honest flag (exit 3) or a right answer — never a traceback, a crash, a hang or a changed file.

Each case runs the real command in-process (``cli.main``): an exception escaping it is a traceback and
fails the test. The working folder is compared before and after every case (each entry's kind, bytes
and link target): a refused run must leave everything as it was. The table runs under an address-space
cap 6 GB above the process's size (``memory_cap``); the cases that ask for too much memory run again
in a fresh subprocess under a 6 GB cap (``ulimit -v``): refused, not killed.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from domainfit.cli import main
from domainfit.imaging import example_path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A user's folder with every kind of awkward file in it."""
    import tifffile
    from PIL import Image

    d = tmp_path_factory.mktemp("hostile")
    maze = np.load(example_path("example"))["image"].astype(np.float32)
    np.save(d / "maze.npy", maze)
    Image.fromarray(((maze - maze.min()) / np.ptp(maze) * 255).astype(np.uint8)).save(d / "maze.png")
    tifffile.imwrite(d / "tagged.tif", maze, resolution=(1 / 8e-3, 1 / 8e-3), resolutionunit=4)  # 8 nm in mm units
    tifffile.imwrite(d / "multi.tif", np.stack([maze, maze]))
    np.save(d / "nan.npy", np.where(np.arange(maze.size).reshape(maze.shape) % 7 == 0, np.nan, maze))
    np.save(d / "const.npy", np.ones((256, 256)))
    np.save(d / "one_d.npy", maze.ravel())
    np.save(d / "stack.npy", np.stack([maze] * 5))
    np.save(d / "tiny.npy", maze[:8, :8])
    np.savez(d / "noimage.npz", other=maze, more=maze)
    (d / "empty.png").write_bytes(b"")
    (d / "trunc.png").write_bytes((d / "maze.png").read_bytes()[:2000])
    (d / "text.png").write_text("this is not an image\n")
    (d / "target.json").write_text("{}\n")
    os.symlink("target.json", d / "link.json")
    os.symlink("maze.png", d / "link.png")
    os.symlink("target.json", d / "link.npz")
    os.symlink("nowhere.png", d / "broken.png")
    os.symlink("loop2", d / "loop1")
    os.symlink("loop1", d / "loop2")
    os.mkfifo(d / "fifo")
    os.mkfifo(d / "fifo.png")
    os.mkfifo(d / "fifo.npz")
    (d / "adir").mkdir()
    (d / "prior_exit.py").write_text("import sys\nsys.exit(0)\n")
    (d / "prior_raise.py").write_text("raise RuntimeError('broken prior')\n")
    (d / "prior_syntax.py").write_text("def prior(:\n")
    (d / "prior_none.py").write_text("x = 1\n")
    (d / "bad.toml").write_text("Ms = = 3\n")
    return d


@pytest.fixture(scope="module", autouse=True)
def memory_cap():
    """The whole table runs under an address-space cap: 6 GB above what this process holds already
    (a hostile request that allocated instead of being refused would fail here, not swap the machine)."""
    import resource

    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + (6 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def snapshot(d: Path) -> dict:
    out = {}
    for entry in sorted(d.rglob("*")):
        st = os.lstat(entry)
        if stat.S_ISLNK(st.st_mode):
            out[str(entry)] = ("link", os.readlink(entry))
        elif stat.S_ISREG(st.st_mode):
            out[str(entry)] = ("file", entry.read_bytes())
        else:
            out[str(entry)] = (stat.S_IFMT(st.st_mode), None)
    return out


SIM = ["simulate", "--cells", "16", "--max-steps", "20"]
EST = ["estimate", "example"]
NPY = ["estimate", "maze.npy", "--pixel-size", "8nm"]
POST = [*EST, "--posterior"]
TOO_BIG = [["simulate", "--cells", "20000"], ["simulate", "--cells", "16000", "--max-steps", "2"],
           ["simulate", "--cells", "32", "--ny", "100000000000"],
           ["generate", "--out", "new-ds", "--count", "4", "--cells", "4096", "--batch", "100000"],
           ["generate", "--out", "new-ds", "--count", "4", "--cells", "20000"],
           [*POST, "--chains", "1000000"], [*POST, "--samples", "100000000"], [*POST, "--warmup", "1000000000"]]

# (argv, exit code, words the one-line error must hold)
CASES = [
    # outputs: links, special files, folders, inputs, missing folders
    ([*EST, "--json", "link.json"], 2, "symbolic link"),
    ([*EST, "--json", "fifo"], 2, "FIFO"),
    ([*EST, "--json", "adir"], 2, "folder"),
    ([*EST, "--json", "/proc/self/fd/1"], 2, "symbolic link"),
    ([*EST, "--json", "/proc/version"], 2, "cannot write"),
    ([*EST, "--json", "/dev/null"], 2, "device"),
    ([*NPY, "--json", "maze.npy"], 2, "input"),
    ([*EST, "--json", "nodir/x.json"], 2, "does not exist"),
    ([*EST, "--out", "link.json"], 2, "not a folder"),
    ([*EST, "--out", "fifo"], 2, "not a folder"),
    ([*EST, "--out", "maze.npy"], 2, "not a folder"),
    ([*EST, "--out", "nodir/sub/out"], 2, "does not exist"),
    (["inspect", "maze.png", "--pixel-size", "8nm", "--figure", "maze.png"], 2, "input"),
    (["inspect", "maze.png", "--pixel-size", "8nm", "--figure", "./link.png"], 2, "symbolic link"),
    (["inspect", "example", "--figure", "x.foo"], 2, "suffix"),
    (["inspect", "example", "--figure", "adir"], 2, "suffix"),
    (["inspect", "example", "--figure", "fifo.png"], 2, "FIFO"),
    (["inspect", "example", "--figure", "nodir/f.png"], 2, "does not exist"),
    ([*SIM, "--png", "link.json"], 2, "suffix"),
    ([*SIM, "--png", "fifo.png"], 2, "FIFO"),
    ([*SIM, "--png", "link.png"], 2, "symbolic link"),
    ([*SIM, "--out", "adir"], 2, "folder"),
    ([*SIM, "--out", "link.npz"], 2, "symbolic link"),
    ([*SIM, "--out", "fifo.npz"], 2, "FIFO"),
    (["compare", "example", "--film", "co-pt", "--film", "co-pt", "--out", "maze.npy"], 2, "not a folder"),
    (["generate", "--out", "maze.npy", "--count", "4", "--cells", "16"], 2, "not a folder"),
    (["train", "--data", "adir", "--out", "adir"], 2, "input"),
    (["train", "--data", "adir", "--out", "maze.npy"], 2, "not a folder"),
    (["evaluate", "--data", "adir", "--plots", "maze.npy"], 2, "not a folder"),
    (["emulator", "--data", "adir", "--out", "fifo"], 2, "FIFO"),
    (["emulator", "--data", "adir", "--out", "link.json"], 2, "symbolic link"),
    # seeds
    *[([*cmd, "--seed", seed], 2, "seed") for cmd in (EST, SIM, ["compare", "example", "--film", "co-pt"])
      for seed in ("99999999999999999999", "-1", "1.5", "abc")],
    (["generate", "--out", "new-ds", "--count", "4", "--cells", "16", "--seed", "4294967296"], 2, "seed"),
    # resources
    *[(argv, 2, "") for argv in TOO_BIG],
    ([*SIM[:1], "--cells", "0"], 2, "cells"), ([*SIM[:1], "--cells", "-5"], 2, "cells"),
    ([*SIM[:1], "--ny", "1e11"], 2, "invalid int"), ([*POST, "--chains", "0"], 2, "chain"),
    ([*POST, "--samples", "10"], 2, "too small"), (["generate", "--out", "new-ds", "--count", "-3"], 2, "at least"),
    # physics
    ([*SIM, "--sigma", "5"], 2, "dispersion"), ([*SIM, "--sigma", "-0.1"], 2, "dispersion"),
    ([*SIM, "--Ms", "-1"], 2, "Ms"), ([*SIM, "--A", "0"], 2, "exchange"), ([*SIM, "--D", "nan"], 2, "finite"),
    ([*SIM, "--cell-size", "0"], 2, "cell-size"), ([*SIM, "--thickness", "inf"], 2, "thickness"),
    ([*SIM, "--tol", "0"], 2, "tol"), ([*SIM, "--max-steps", "0"], 2, "max-steps"),
    ([*SIM, "--grain-size", "-3"], 2, "grain-size"), ([*SIM, "--D", "1e308"], 2, "beyond any film"),
    ([*SIM, "--Ms", "1e308"], 2, "Ms"), ([*SIM, "--field", "1e300"], 2, "beyond any film"),
    # pixel sizes
    *[(["estimate", "maze.npy", f"--pixel-size={p}"], 2, "pixel size") for p in
      ("8pm", "1e-300nm", "1e308nm", "--", "-8nm", "0nm", "nannm", "infnm", "8furlongs", "")],
    (["estimate", "maze.npy"], 2, "pixel size missing"),
    (["estimate", "tagged.tif", "--pixel-size", "16nm"], 2, "pixel size"),
    ([*EST, "--pixel-size", "100nm"], 2, "pixel size"),
    # image files
    *[(["estimate", name, "--pixel-size", "8nm"], 2, words) for name, words in (
        ("nonexistent.png", "does not exist"), ("empty.png", "empty"), ("trunc.png", "trunc.png"),
        ("adir", "folder"), ("loop1", "symbolic link"), ("broken.png", "symbolic link"), ("text.png", "text.png"),
        ("nan.npy", "finite"), ("const.npy", "constant"), ("one_d.npy", "2D"), ("stack.npy", "stack.npy"),
        ("multi.tif", "multi.tif"), ("tiny.npy", "small"), ("fifo", "regular file"), ("/dev/zero", "regular file"),
        ("noimage.npz", "noimage.npz"))],
    (["inspect", "nonexistent.png", "--pixel-size", "8nm"], 2, "does not exist"),
    # prior files
    *[([*POST, "--prior", name], 2, words) for name, words in (
        ("prior_exit.py", "sys.exit"), ("prior_raise.py", "broken prior"), ("prior_syntax.py", "SyntaxError"),
        ("prior_none.py", "prior()"), ("nonexistent.py", "no such file"), ("adir", "no such file"))],
    # emulators
    ([*POST, "--emulator", "maze.npy"], 2, "emulator"), ([*POST, "--emulator", "text.png"], 2, "emulator"),
    ([*POST, "--emulator", "nonexistent.npz"], 2, "no such file"), ([*EST, "--emulator", "maze.npy"], 2, "--posterior"),
    # films, fixed values, measurements, instruments
    *[([*EST, "--film", spec], 2, words) for spec, words in (
        ("Ms=abc", "Ms"), ("Ms=1100kA/m±300%", "Ms"), ("Ms=-5kA/m", "Ms"), ("dmi=sideways", "dmi"),
        ("Ms=1500kA/m,Ku=0.1MJ/m3,A=10pJ/m,thickness=1nm,dmi=interfacial", "K_eff"),
        ("nonexistent.toml", "nonexistent.toml"), ("bad.toml", "bad.toml"))],
    ([*POST, "--fix", "Ku=abc"], 2, "Ku"), ([*POST, "--fix", "nope=1"], 2, "nope"), ([*POST, "--fix", "D=1"], 2, "unit"),
    ([*POST, "--dmi-field", "abc"], 2, "dmi"), ([*EST, "--instrument", "nope"], 2, "nope"),
    ([*EST, "--instrument", "mfm", "--lift", "-5nm"], 2, "lift"),
    # commands and arguments
    ([], 2, "command"), (["estimate"], 2, "image"), (["nope"], 2, "nope"), (["compare", "example", "--particles", "5"], 2, "particles"),
]


def ids(case):
    return " ".join(case[0])[:60] or "(nothing)"


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's overflow warnings before an error: printed noise
@pytest.mark.parametrize("argv, code, words", CASES, ids=[ids(c) for c in CASES])
def test_a_hostile_input_is_refused_in_one_line_and_changes_nothing(folder, monkeypatch, capsys, argv, code, words):
    monkeypatch.chdir(folder)
    before = snapshot(folder)
    got = main(list(argv))
    err = capsys.readouterr().err
    assert got in ((code,)), err
    if got == 2:
        assert err.startswith("domainfit: error:") and err.count("\n") == 1, err
        assert words.lower() in err.lower(), err
    assert "Traceback" not in err
    assert snapshot(folder) == before
    assert not (folder / "new-ds").exists()


def test_the_table_is_large_enough():
    assert len(CASES) >= 100


CAPPED = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
from domainfit.cli import main
print(json.dumps([main(argv) for argv in json.loads(sys.argv[1])]))
"""


def test_requests_too_large_for_memory_are_refused_under_a_memory_cap(folder):
    # Under `ulimit -v 6G`: every over-large request is a one-line refusal, the process is not killed.
    proc = subprocess.run([sys.executable, "-c", CAPPED, json.dumps(TOO_BIG)], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [2] * len(TOO_BIG)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("domainfit: error:")]
    assert len(errors) == len(TOO_BIG) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
