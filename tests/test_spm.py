"""Scanning-probe files (Gwyddion, Asylum .ibw, Nanonis .sxm, Nanoscope): every format written with a known
maze, a pixel size and two channels (tests/spm_writers.py: gwyfile's writer, or byte by byte from the
format's description) reads back to the same array and pixel size; the channel choice is recorded;
wrong channels, missing libraries, conflicting pixel sizes and stacks fail in one line."""

import json
import sys

import numpy as np
import pytest
import tifffile

import domainfit as df
from domainfit import imaging
from domainfit.cli import main
from domainfit.errors import DomainfitError
from maze_helpers import synthetic_maze
from spm_writers import write_gwy, write_ibw, write_nanoscope, write_sxm

PX = 7.5e-9
LIBRARY = {"gwy": "gwyfile", "ibw": "igor2", "sxm": "nanonispy2", "001": None, "spm": None}


def maze(ny=48, nx=64, seed=0):
    """A maze [y, x] of unequal sides with a marked corner: a transposed or flipped reading cannot match."""
    m = np.asarray(synthetic_maze(nx, PX, 90e-9, ny=ny, seed=seed), dtype=np.float64)
    m[:5, :7] += 0.5
    return m


def write(fmt: str, path, image: np.ndarray, px: float = PX) -> str:
    """Write ``image`` as the lift-pass or magnetic channel of a two-channel file; returns that channel's label."""
    other = np.random.default_rng(1).normal(size=image.shape)  # a height channel
    if fmt == "gwy":
        write_gwy(path, {"Height (Forward)": other, "Phase (Backward)": image}, px, {"Phase (Backward)": "deg"})
        return "Phase (retrace)"
    if fmt == "ibw":
        write_ibw(path, {"HeightRetrace": other, "NapPhaseRetrace": image}, px)
        return "NapPhase (retrace)"
    if fmt == "sxm":
        write_sxm(path, {"Z": ("m", other, other), "Frequency_Shift": ("Hz", image, image)}, px)
        return "Frequency Shift (retrace)"
    counts = lambda a: np.round(a / np.abs(a).max() * 30000).astype(np.int16)  # noqa: E731
    write_nanoscope(path, [dict(name="Height Sensor", counts=counts(other), direction="Retrace", sens="Sens. Zsens",
                                volts_per_lsb=3.75e-4),
                           dict(name="Phase", counts=counts(image), direction="Retrace", sens="Sens. Phase",
                                volts_per_lsb=1e-4, interleave=True)], px, size_unit="~m" if fmt == "001" else "nm")
    return "Interleave Phase (retrace)"


def stored(fmt: str, image: np.ndarray) -> np.ndarray:
    """What the file holds of ``image``: Nanoscope keeps 16-bit counts."""
    return np.round(image / np.abs(image).max() * 30000) if fmt in ("001", "spm") else image


@pytest.mark.parametrize("fmt", list(LIBRARY))
def test_each_format_reads_back_the_maze_and_its_pixel_size(tmp_path, fmt):
    if LIBRARY[fmt]:
        pytest.importorskip(LIBRARY[fmt])
    image = maze()
    path = tmp_path / f"scan.{fmt}"
    label = write(fmt, path, image)
    img = imaging.load(path, channel=label, level="none")
    assert img.pixel_size == pytest.approx(PX, rel=1e-9)
    assert img.meta["pixel_size_source"].endswith("scan size") and img.meta["channel"] == label
    np.testing.assert_allclose(img.data, imaging.from_array(stored(fmt, image), PX).data, atol=2e-6)
    # Without a channel: the MFM default (the lift-pass phase, or the frequency shift), recorded
    default = imaging.load(path)
    assert default.meta["channel"] == label and default.meta["channel_choice"].startswith("default")
    assert len(default.meta["channels"]) >= 2 and default.meta["level"]["method"] == "median"
    # Another channel by its name alone (then its retrace first) or with a direction in other words
    height = "Height Sensor" if fmt in ("001", "spm") else "Z" if fmt == "sxm" else "Height"
    assert imaging.load(path, channel=height).meta["channel_name"] == height
    if fmt == "sxm":
        assert imaging.load(path, channel="frequency_shift forward").meta["channel"] == "Frequency Shift (trace)"


def test_unknown_channel_lists_the_channels_in_one_line(tmp_path):
    pytest.importorskip("igor2")
    write("ibw", tmp_path / "s.ibw", maze())
    with pytest.raises(DomainfitError, match=r"no channel 'Amplitude'.*Height \(retrace\), NapPhase \(retrace\)") as e:
        imaging.load(tmp_path / "s.ibw", channel="Amplitude")
    assert "\n" not in str(e.value)
    with pytest.raises(DomainfitError, match="channels are chosen in scanning-probe files"):
        imaging.load(imaging.example_path("example-mfm"), channel="Phase")


def test_a_missing_reader_names_the_extra(tmp_path, monkeypatch):
    pytest.importorskip("gwyfile")
    write("gwy", tmp_path / "s.gwy", maze())
    monkeypatch.setitem(sys.modules, "gwyfile", None)  # as if not installed: import raises ImportError
    with pytest.raises(DomainfitError, match=r'needs the package gwyfile: pip install "domainfit\[spm\]"') as e:
        imaging.load(tmp_path / "s.gwy")
    assert "\n" not in str(e.value)


def test_the_written_igor_wave_follows_the_format(tmp_path):
    """The .ibw writer against PTN003: the 16-bit words of both headers sum to zero (Igor's checksum);
    the data block sits right after the 384 header bytes, in Igor's [x, y up, layer] column order."""
    image = maze()
    write("ibw", tmp_path / "s.ibw", image)
    raw = (tmp_path / "s.ibw").read_bytes()
    assert int(np.frombuffer(raw[:384], "<i2").astype(np.int64).sum()) % 65536 == 0
    block = np.frombuffer(raw[384:384 + 4 * image.size * 2], "<f4").reshape(2, 48, 64)  # layer, y (up), x
    np.testing.assert_array_equal(block[1], np.flipud(image).astype(np.float32))


def test_nanoscope_values_are_counts_times_volts_per_lsb_times_sensitivity(tmp_path):
    from domainfit.imaging._spm import read_channels

    image = maze()
    write("spm", tmp_path / "s.spm", image)
    height, phase = read_channels(tmp_path / "s.spm")
    counts = np.round(np.random.default_rng(1).normal(size=image.shape) / np.abs(
        np.random.default_rng(1).normal(size=image.shape)).max() * 30000)
    np.testing.assert_allclose(height.data, counts * 3.75e-4 * 20e-9, rtol=1e-12)  # 20 nm/V, in metres
    assert height.unit == "m" and phase.lift and not height.lift
    np.testing.assert_allclose(phase.data, stored("spm", image) * 1e-4 * 18.0, rtol=1e-12)  # 18 º/V


@pytest.mark.parametrize("fmt", ["ibw", "tif"])
def test_inspect_lists_the_channels(tmp_path, capsys, fmt):
    if fmt == "ibw":
        pytest.importorskip("igor2")
        write("ibw", tmp_path / "s.ibw", maze())
    else:
        tifffile.imwrite(tmp_path / "s.tif", maze().astype(np.float32), resolution=(0.01 / PX, 0.01 / PX),
                         resolutionunit=3)
    assert main(["inspect", str(tmp_path / f"s.{fmt}"), "--channels"]) == 0
    out = capsys.readouterr().out
    assert "48×64" in out and "7.5 nm" in out
    assert main(["inspect", str(tmp_path / f"s.{fmt}"), "--channels", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    if fmt == "ibw":
        assert [c["name"] for c in listing["channels"]] == ["Height (retrace)", "NapPhase (retrace)"]
        assert listing["default"] == "NapPhase (retrace)" and listing["channels"][1]["unit"] == "deg"
    else:
        assert listing["default"] == "image" and listing["channels"][0]["shape"] == [48, 64]


def tagged_tiff(path, data, px):
    tifffile.imwrite(path, np.asarray(data, np.float32), resolution=(0.01 / px, 0.01 / px), resolutionunit=3)
    return path


def test_a_pixel_size_that_contradicts_the_file_is_refused_unless_forced(tmp_path, capsys):
    path = tagged_tiff(tmp_path / "t.tif", maze(), 10e-9)
    with pytest.raises(DomainfitError, match=r"20 nm differs from t.tif's own calibration 10 nm \(TIFF resolution "
                                             r"tags\).*--force") as e:
        imaging.load(path, pixel_size=20e-9)
    assert "\n" not in str(e.value)
    assert imaging.load(path, pixel_size=10.09e-9).pixel_size == 10.09e-9  # within 1 %: agreement
    forced = imaging.load(path, pixel_size=20e-9, force=True)
    assert forced.pixel_size == 20e-9 and forced.meta["pixel_size_conflict"]["file_m"] == pytest.approx(10e-9)
    assert any("--force" in n for n in forced.notes)
    np.savez(tmp_path / "a.npz", image=maze(), pixel_size=10e-9)  # a .npz's own pixel_size, through the API
    with pytest.raises(DomainfitError, match="differs from a.npz's own calibration"):
        df.inspect_image(tmp_path / "a.npz", pixel_size="15nm")
    assert main(["inspect", str(path), "--pixel-size", "20nm", "--no-figure"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["inspect", str(path), "--pixel-size", "20nm", "--force", "--no-figure", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["statistics"]["pixel_size_nm"] == pytest.approx(20.0) and report["loading"]["pixel_size_conflict"]


def test_an_spm_scan_size_is_a_calibration_too(tmp_path):
    pytest.importorskip("nanonispy2")
    write("sxm", tmp_path / "s.sxm", maze())
    with pytest.raises(DomainfitError, match="Nanonis scan size"):
        imaging.load(tmp_path / "s.sxm", pixel_size=5e-9)


def test_stacks_are_refused_until_a_plane_is_picked(tmp_path, capsys):
    planes = np.stack([maze(seed=s) for s in range(4)]).astype(np.float32)  # 3 planes of a .npy are m[c, y, x]
    tifffile.imwrite(tmp_path / "stack.tif", planes, photometric="minisblack", resolution=(0.01 / PX, 0.01 / PX),
                     resolutionunit=3)
    np.save(tmp_path / "stack.npy", planes)
    for name in ("stack.tif", "stack.npy"):
        with pytest.raises(DomainfitError, match=r"holds (4 pages|a stack of 4 planes).*--page K \(K = 0 … 3") as e:
            imaging.load(tmp_path / name, pixel_size=PX)
        assert "\n" not in str(e.value)
        second = imaging.load(tmp_path / name, pixel_size=PX, page=1)
        np.testing.assert_allclose(second.data, imaging.from_array(planes[1], PX).data, atol=1e-6)
        assert second.meta["page"] == {"index": 1, "of": 4}
        with pytest.raises(DomainfitError, match="numbered 0 … 3"):
            imaging.load(tmp_path / name, pixel_size=PX, page=4)
    with pytest.raises(DomainfitError, match="stack of 4 images"):
        df.inspect_image(planes, pixel_size=PX)
    assert df.inspect_image(planes, pixel_size=PX, page=2).image.shape == (48, 64)
    assert main(["inspect", str(tmp_path / "stack.tif"), "--page", "0", "--no-figure", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loading"]["page"]["index"] == 0


def test_estimate_reads_the_same_d_from_an_spm_channel_as_from_the_same_array_in_a_tiff(tmp_path):
    """The shipped example's array as the lift-pass phase of an Asylum file (and as a TIFF): the same D,
    the channel choice in the report."""
    pytest.importorskip("igor2")
    z = np.load(imaging.example_path("example"))
    image, px = np.asarray(z["image"], np.float64), float(z["pixel_size"])
    write_ibw(tmp_path / "mfm.ibw", {"HeightRetrace": np.zeros_like(image), "NapPhaseRetrace": image}, px)
    from_tiff = df.estimate(tagged_tiff(tmp_path / "mfm.tif", image, px)).report
    from_ibw = df.estimate(tmp_path / "mfm.ibw", channel="NapPhase").report
    d_tif, d_ibw = from_tiff["parameters"]["D"], from_ibw["parameters"]["D"]
    assert abs(d_ibw["mean"] - d_tif["mean"]) < 0.01 * d_tif["sd"], (d_ibw, d_tif)
    reading = from_ibw["image"]["reading"]
    assert reading["channel"] == "NapPhase (retrace)" and reading["level"]["method"] == "median"
    assert reading["channels"] == ["Height (retrace)", "NapPhase (retrace)"]
