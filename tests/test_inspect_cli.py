"""`domainfit inspect`: statistics of a real image file, its figure, and one-line errors with exit
code 2 for every bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from domainfit.cli import main


def run_cli(*args, cwd=None):
    """Run the real command in a subprocess (what a user sees: stdout, stderr, exit code)."""
    proc = subprocess.run(
        [sys.executable, "-m", "domainfit", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )
    return proc.returncode, proc.stdout, proc.stderr


def stripe_png(path, period_px=16, shape=(96, 128), bits=8):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    wave = np.sin(2 * np.pi * x / period_px)
    hi = 255 if bits == 8 else 65535
    Image.fromarray(((wave > 0) * 0.6 * hi + 0.2 * hi).astype(np.uint8 if bits == 8 else np.uint16)).save(path)
    return path


def test_inspect_json_and_figure_through_the_entry_point(tmp_path):
    png = stripe_png(tmp_path / "stripes.png")
    fig = tmp_path / "fig.png"
    code, stdout, stderr = run_cli("inspect", str(png), "--pixel-size", "15.6nm", "--json", "--figure", str(fig))
    assert code == 0, stderr
    report = json.loads(stdout)
    stats = report["statistics"]
    assert stats["period_nm"] == pytest.approx(16 * 15.6, rel=0.02)
    assert stats["pixel_size_nm"] == pytest.approx(15.6)
    assert stats["field_of_view_um"] == pytest.approx([96 * 0.0156, 128 * 0.0156])
    assert set(report["summary_vector"]) == {"period", "spectral_width", "mean_contrast", "wall_density", "euler_density"}
    assert report["summary_units"]["period"] == "µm"
    assert len(report["radial_spectrum"]["k_per_um"]) == len(report["radial_spectrum"]["power"])
    assert report["loading"]["bit_depth"] == 8
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_text_output_units_and_tiff_tags(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    y, x = np.mgrid[0:64, 0:64] + 0.5
    data = np.sign(np.sin(2 * np.pi * y / 8)).astype(np.float32)
    per_cm = 0.01 / 10e-9
    tifffile.imwrite(tmp_path / "tagged.tif", data, resolution=(per_cm, per_cm), resolutionunit=3)
    assert main(["inspect", "tagged.tif", "--invert"]) == 0
    out = capsys.readouterr().out
    assert "domain period" in out and "nm" in out and "/µm" in out and "TIFF resolution tags" in out
    assert (tmp_path / "tagged_inspect.png").exists()  # default figure name in the current folder
    assert main(["inspect", "tagged.tif", "--pixel-size", "0.02um", "--force", "--no-figure", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["statistics"]["pixel_size_nm"] == pytest.approx(20.0)
    assert report["statistics"]["period_nm"] == pytest.approx(160.0, rel=0.02)
    assert report["figure"] is None


def _write_truncated_png(path):
    stripe_png(path, shape=(256, 256), bits=16)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_truncated_tiff(path):
    tifffile.imwrite(path, np.random.default_rng(0).random((128, 128)).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


BAD_FILES = {
    "garbage.png": (lambda p: p.write_bytes(b"\x89PNG not really" * 20), ["cannot read", "not a valid or complete"]),
    "truncated.png": (_write_truncated_png, ["cannot read", "truncated.png"]),
    "truncated.tif": (_write_truncated_tiff, ["cannot read", "truncated.tif"]),
    "empty.png": (lambda p: p.write_bytes(b""), ["empty file"]),
    "zero.npy": (lambda p: np.save(p, np.zeros((0, 64))), ["zero size"]),
    "nan.npy": (lambda p: np.save(p, np.where(np.eye(64) > 0, np.nan, 1.0) + np.arange(64)), ["64 NaN or infinite"]),
    "inf.tif": (lambda p: tifffile.imwrite(p, np.where(np.eye(40) > 0, np.inf, 0.5).astype(np.float32)), ["infinite"]),
    "constant.png": (lambda p: Image.fromarray(np.full((64, 64), 77, np.uint8)).save(p), ["constant", "no domain contrast"]),
    "small.png": (lambda p: Image.fromarray(np.tile([[0, 255]], (20, 40)).astype(np.uint8)).save(p), ["20×80 px", "at least 32 px"]),
    "notes.txt": (lambda p: p.write_text("hello"), ["unknown image format"]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_image_files_exit_2_with_one_line(tmp_path, capsys, name):
    make, words = BAD_FILES[name]
    path = tmp_path / name
    make(path)
    code = main(["inspect", str(path), "--pixel-size", "10nm", "--no-figure"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("domainfit: error:") and err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "pixel size missing"),
        (["--pixel-size", "0nm"], "finite positive"),
        (["--pixel-size=-5nm"], "finite positive"),
        (["--pixel-size", "15.6parsec"], "unknown length unit 'parsec'"),
        (["--pixel-size", "15.6"], "has no unit"),
        (["--pixel-size", "nm"], "cannot read length"),
        (["--pixel-size", "2m"], "implausible"),
        (["--flatten", "9", "--pixel-size", "10nm"], "flatten degree"),
        (["--pixel-size", "10nm", "--figure", "/no/such/folder/f.png"], "does not exist"),
    ],
)
def test_bad_pixel_size_and_options_exit_2(tmp_path, capsys, args, words):
    png = stripe_png(tmp_path / "ok.png")
    code = main(["inspect", str(png), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err
    if args and args[0].startswith("--pixel-size") and "--figure" not in args:
        assert "pixel size" in err, err


def test_missing_file(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nowhere.png"), "--pixel-size", "10nm"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


def test_missing_pixel_size_through_the_entry_point(tmp_path):
    png = stripe_png(tmp_path / "ok.png")
    code, _, stderr = run_cli("inspect", str(png))
    assert code == 2 and "pixel size missing" in stderr and "--pixel-size 15.6nm" in stderr
    assert stderr.count("\n") == 1


def test_shipped_example_is_calibrated_and_its_statistics_match_its_own_wall_count(tmp_path, capsys, monkeypatch):
    """`inspect example` (the README's first command) reads the packaged maze with its 8 nm pixels."""
    from domainfit import imaging
    from domainfit.features import statistics as stats

    monkeypatch.chdir(tmp_path)
    assert main(["inspect", "example", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["statistics"]["pixel_size_nm"] == pytest.approx(8.0)
    assert (tmp_path / "example_inspect.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Independent count on the raw array: Cauchy–Crofton from sign changes between neighbours.
    raw = np.load(imaging.example_path())["image"]
    crossings = np.sum(np.sign(raw) != np.sign(np.roll(raw, -1, 1))) + np.sum(np.sign(raw) != np.sign(np.roll(raw, -1, 0)))
    expected_per_um = np.pi * 8e-9 * crossings / (4 * raw.size * (8e-9) ** 2) * 1e-6
    assert float(stats.wall_density(np.asarray(raw), 8e-9)) * 1e-6 == pytest.approx(expected_per_um, rel=1e-6)
    assert report["statistics"]["wall_density_per_um"] == pytest.approx(expected_per_um, rel=0.05)
