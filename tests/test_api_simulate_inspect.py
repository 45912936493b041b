"""`domainfit.relax_film` and `domainfit.inspect_image`: the one Python call behind `simulate` and
`inspect`, giving what the command gives, and checked against independent truth."""

import json

import numpy as np
import pytest

import domainfit as df
from domainfit import imaging, units
from domainfit.cli import main

FILM = dict(D=1.5, sigma=0.1, seed=3, cells=32, ny=40, max_steps=4000)  # user units, as the CLI takes them


@pytest.fixture(scope="module")
def film():
    return df.relax_film(
        "co-pt", D=units.to_si("D", FILM["D"]), sigma=FILM["sigma"], key=FILM["seed"], cells=FILM["cells"],
        ny=FILM["ny"], max_steps=FILM["max_steps"],
    )  # fmt: skip


def test_relax_film_gives_what_the_command_gives(film, tmp_path, capsys):
    out = tmp_path / "state.npz"
    code = main(["simulate", "--D", str(FILM["D"]), "--sigma", str(FILM["sigma"]), "--seed", str(FILM["seed"]),
                 "--cells", str(FILM["cells"]), "--ny", str(FILM["ny"]), "--max-steps", str(FILM["max_steps"]),
                 "--out", str(out), "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if film.converged else 1)
    np.testing.assert_array_equal(np.load(out)["m"], film.m)
    assert film.m.shape == (3, FILM["ny"], FILM["cells"])
    cli, api = dict(report["summary"]), dict(film.summary)
    cli.pop("wall_time_s"), api.pop("wall_time_s")
    assert cli == api
    assert report["config"] == film.config
    assert set(film.report) == {"summary", "config"} and json.loads(film.to_json()) == film.report
    assert film.lines()[0].startswith("converged" if film.converged else "NOT converged")


def test_saved_film_reads_back_as_an_image_with_the_cell_size(film, tmp_path):
    path = film.save(tmp_path / "state.dat")  # the suffix is made .npz, as `simulate --out` does
    assert path == tmp_path / "state.npz" and path.exists()
    with np.load(path) as data:
        np.testing.assert_array_equal(data["m"], film.m)
        assert json.loads(str(data["config_json"])) == film.config
        assert json.loads(str(data["summary_json"])) == film.summary
    image = imaging.load(path)
    assert image.pixel_size == pytest.approx(4e-9)
    assert image.shape == (FILM["ny"], FILM["cells"])
    # The image is m_z with its contrast normalised: the same domains.
    assert np.mean(np.sign(image.data) == np.sign(film.m[2])) > 0.99
    png = film.save_png(tmp_path / "mz.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(cell_size=-4e-9), "cell-size"),
        (dict(cell_size=0.0), "cell-size"),
        (dict(thickness=float("nan")), "thickness"),
        (dict(grain_size=float("inf")), "grain-size"),
        (dict(tol=0.0), "tolerance"),
        (dict(tol=-1e-4), "tolerance"),
        (dict(max_steps=0), "at least 1"),
        (dict(cells=4), "at least 8"),
        (dict(Ms=-1.0), "saturation magnetisation"),
        (dict(D=float("nan")), "D = nan"),
    ],
)
def test_invalid_film_inputs_are_one_line_errors_before_any_relaxation(kwargs, words, monkeypatch):
    import domainfit.physics

    def no_relaxation(*args, **kw):
        raise AssertionError("the relaxation started before the inputs were checked")

    monkeypatch.setattr(domainfit.physics, "simulate", no_relaxation)
    with pytest.raises(df.DomainfitError) as err:
        df.relax_film(**{"cells": 16, **kwargs})
    assert words in str(err.value) and "\n" not in str(err.value)


def stripes(period=64e-9, pixel=4e-9, n=128):
    """tanh(3 cos(2πx/P)) at pixel centres: stripe domains of period P with walls of finite width, periodic
    in the frame (no pixel sits exactly on a wall, where rounding would decide the sign)."""
    x = (np.arange(n) + 0.5) * pixel
    return np.tile(np.tanh(3 * np.cos(2 * np.pi * x / period)), (n, 1))


def assert_same_statistics(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_inspect_image_of_an_array_equals_that_of_its_file_and_finds_the_period(tmp_path, capsys):
    raw = stripes()
    np.save(tmp_path / "stripes.npy", raw)
    from_array = df.inspect_image(raw, pixel_size=4e-9)
    from_file = df.inspect_image(tmp_path / "stripes.npy", pixel_size="4nm")
    assert_same_statistics(from_array.statistics, from_file.statistics)
    np.testing.assert_allclose(from_array.k_per_um, from_file.k_per_um)
    np.testing.assert_allclose(from_array.power, from_file.power)
    np.testing.assert_array_equal(from_array.image.data, from_file.image.data)
    # Independent truth: the period the stripes were drawn with.
    assert from_array.statistics["period_nm"] == pytest.approx(64.0, rel=0.05)
    assert from_array.report["image"] == "array" and from_array.report["figure"] is None

    # The command prints the same report and text.
    assert main(["inspect", str(tmp_path / "stripes.npy"), "--pixel-size", "4nm", "--no-figure", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(from_file.to_json())
    assert main(["inspect", str(tmp_path / "stripes.npy"), "--pixel-size", "4nm", "--no-figure"]) == 0
    assert capsys.readouterr().out.splitlines() == from_file.lines()

    fig = from_file.figure(tmp_path / "fig.png")
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert from_file.report["figure"] == str(fig) and from_file.lines()[-1] == f"  figure: {fig}"


def test_inspect_image_takes_a_domain_image_and_binarises(tmp_path):
    image = imaging.from_array(stripes(), 4e-9)
    assert_same_statistics(df.inspect_image(image).statistics, df.inspect_image(stripes(), pixel_size=4e-9).statistics)
    with pytest.raises(df.DomainfitError, match="binarise"):
        df.inspect_image(image, binarise=True)
    two_level = df.inspect_image(stripes(), pixel_size=4e-9, binarise=True)
    assert set(np.unique(two_level.image.data)) == {-1.0, 1.0}
    assert two_level.report["loading"]["binarise"] is True
    with pytest.raises(df.DomainfitError, match="pixel size"):
        df.inspect_image(stripes())


def test_a_float32_array_is_read_as_its_saved_file_is(tmp_path):
    # imaging.from_array normalised float32 arrays in float32 while a file is read in float64: on pixels
    # lying exactly on a wall (value 0) the one-ulp difference flipped signs, and the wall density of
    # the array came out 49.5 /µm against 26.3 /µm from its own .npy.
    x = np.arange(128) * 4e-9  # pixel corners: every fourth pixel lies on a wall, where tanh is ~1e-16
    raw = np.tile(np.tanh(3 * np.cos(2 * np.pi * x / 64e-9)), (128, 1)).astype(np.float32)
    np.save(tmp_path / "walls.npy", raw)
    a = df.inspect_image(raw, pixel_size=4e-9).statistics
    b = df.inspect_image(tmp_path / "walls.npy", pixel_size=4e-9).statistics
    assert_same_statistics(a, b)
