"""``Film``: the sample's constants with units and uncertainties, from a TOML file or inline, and the
presets as films; how ``estimate`` routes a film (CNN for the model's own film, the period law for others)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from domainfit import DomainfitError
from domainfit.films import Constant, Film, parse_constant, parse_film, preset_film
from domainfit.parameters import PRESETS
from domainfit.units import MU0

INLINE = "Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial"
TOML = '''# a Pt/Co/MgO-like film
Ms = "1100 kA/m ± 3%"
Ku = "0.95 MJ/m3 ± 5%"
A = "16 pJ/m ± 15%"
thickness = "1.0 nm"
dmi = "interfacial"
'''


def test_toml_and_inline_give_the_same_film_in_si(tmp_path):
    path = tmp_path / "film.toml"
    path.write_text(TOML)
    a, b = parse_film(path), parse_film(INLINE)
    for film in (a, b):
        assert film.Ms.value == pytest.approx(1.1e6) and film.Ms.sd == pytest.approx(0.03 * 1.1e6)
        assert film.Ku.value == pytest.approx(0.95e6) and film.Ku.sd == pytest.approx(0.05 * 0.95e6)
        assert film.A.value == pytest.approx(16e-12) and film.A.sd == pytest.approx(2.4e-12)
        assert film.thickness.value == pytest.approx(1e-9) and film.thickness.exact
        assert film.dmi == "interfacial" and film.grain_size == pytest.approx(20e-9)
        # K_eff = Ku − μ0Ms²/2, D_c = 4√(A K_eff)/π, Δ = √(A/K_eff): computed by hand here
        k_eff = 0.95e6 - 0.5 * 4e-7 * math.pi * 1.1e6**2
        assert film.K_eff == pytest.approx(k_eff, rel=1e-6)
        assert film.critical_dmi == pytest.approx(4 * math.sqrt(16e-12 * k_eff) / math.pi, rel=1e-6)
        assert film.wall_width == pytest.approx(math.sqrt(16e-12 / k_eff), rel=1e-6)
    assert a.uncertain() == ("Ms", "Ku", "A")
    assert a.matches(b) and b.matches(a)


@pytest.mark.parametrize("name, text, value, sd", [
    ("Ms", "1100 kA/m ± 33 kA/m", 1.1e6, 3.3e4),
    ("Ms", "1.1 MA/m+-3%", 1.1e6, 3.3e4),
    ("A", "16pJ/m +/- 2pJ/m", 16e-12, 2e-12),
    ("Ku", "950 kJ/m^3", 0.95e6, 0.0),
    ("thickness", "0.9nm±0.1nm", 0.9e-9, 0.1e-9),
])
def test_constant_units_and_uncertainties(name, text, value, sd):
    c = parse_constant(name, text)
    assert c.value == pytest.approx(value) and c.sd == pytest.approx(sd)


def test_a_range_is_a_uniform_prior_and_k_eff_is_its_own_uncertainty():
    c = parse_constant("Ms", "200..700 kA/m")
    assert (c.low, c.high, c.value) == (pytest.approx(200e3), pytest.approx(700e3), pytest.approx(450e3))
    film = parse_film("Ms=1100kA/m±3%,K_eff=0.19MJ/m3±10%,A=16pJ/m,thickness=1nm,dmi=bulk")
    assert film.effective and film.K_eff == pytest.approx(0.19e6)
    assert film.Ku_value == pytest.approx(0.19e6 + 0.5 * MU0 * 1.1e6**2)
    draws = film.draw(20000, np.random.default_rng(0))
    k_eff = draws["Ku"] - 0.5 * MU0 * draws["Ms"] ** 2
    assert np.std(k_eff) == pytest.approx(0.019e6, rel=0.05)  # K_eff's own sd, not Ms's on top
    assert np.all(draws["A"] == 16e-12)


def test_draws_follow_the_priors_and_keep_the_film_perpendicular():
    film = parse_film(INLINE)
    d = film.draw(40000, np.random.default_rng(1))
    assert np.mean(d["A"]) == pytest.approx(16e-12, rel=0.01) and np.std(d["A"]) == pytest.approx(2.4e-12, rel=0.03)
    assert np.all(d["Ku"] - 0.5 * MU0 * d["Ms"] ** 2 > 0)
    # K_eff ≈ 0.19 ± 0.066 MJ/m³: about 0.2 % of the unconditioned draws are not perpendicular
    raw = film._draw_once(200000, np.random.default_rng(2))
    assert 0.0005 < np.mean(raw["Ku"] - 0.5 * MU0 * raw["Ms"] ** 2 <= 0) < 0.01


def test_presets_are_films():
    for name, preset in PRESETS.items():
        film = preset_film(name)
        assert film.dmi == preset.dmi and film.thickness.value == preset.thickness and film.name == name
        for n in ("Ku", "A"):
            assert film.values()[n] == preset.reference[n]
    assert preset_film("co-pt").Ms.exact and preset_film("co-pt").Ms.value == 1.5e6
    low = preset_film("low-ms").Ms
    assert (low.low, low.high) == PRESETS["low-ms"].box["Ms"]
    assert parse_film("co-pt") == preset_film("co-pt")


@pytest.mark.parametrize("spec, words", [
    ("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm", "missing dmi"),
    ("Ms=1100kA/m,A=16pJ/m,thickness=1nm,dmi=bulk", "missing Ku (or K_eff)"),
    ("Ms=1100kA/m,Ku=0.95MJ/m3,K_eff=0.2MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "Ku or K_eff, not both"),
    ("Ms=1100kA,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "unknown unit"),
    ("Ms=1100,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "has no unit"),
    ("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=chiral", "interfacial"),
    ("Ms=1100kA/m,Ku=0.5MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "not perpendicular"),
    ("Ms=1100kA/m±120%,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "as large as the value"),
    ("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk,colour=red", "unknown key 'colour'"),
    ("Ms=1100kA/m,Ms=1000kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "given twice"),
    ("Ms=700..200kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=bulk", "low < high"),
    ("nofile.toml", "not found"),
    ("Pt/Co", "not found"),
])
def test_bad_films_are_one_line_errors(spec, words):
    with pytest.raises(DomainfitError, match=words.replace("(", r"\(").replace(")", r"\)")) as err:
        parse_film(spec)
    assert "\n" not in str(err.value)


def test_bad_toml_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('Ms = "1100 kA/m"\nKu = ')
    with pytest.raises(DomainfitError, match="not valid TOML"):
        parse_film(bad)
    bare = tmp_path / "bare.toml"
    bare.write_text(TOML.replace('"1.0 nm"', "1.0"))
    with pytest.raises(DomainfitError, match="thickness = 1.0: write it as a string with its unit"):
        parse_film(bare)


def test_cli_bad_film_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "domainfit", "estimate", "example", "--film",
                           "Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing dmi" in proc.stderr


def test_matches_and_differences():
    film = parse_film(INLINE)
    copt = preset_film("co-pt")
    assert not film.matches(copt)
    assert "interfacial DMI, not bulk" in film.differences(copt)
    near = Film(Ms=Constant(1.51e6), Ku=Constant(1.6e6), A=Constant(31e-12), thickness=Constant(4e-9), dmi="bulk")
    assert near.matches(copt) and not near.matches(copt, rtol=0.001)


@pytest.mark.parametrize("extra", [[], ["--film", "co-pt", "--posterior"], ["--film", "co-pt", "--method", "period"]])
def test_history_is_refused_where_no_simulation_reads_it(extra, capsys):
    """``--history`` shapes the simulator path's likelihood only: without a film, on the CNN path of the
    model's own film, or with the period law it is refused (one line, exit 2), not silently ignored."""
    from domainfit.cli import main

    assert main(["estimate", "example", "--history", "random", *extra]) == 2
    assert "--history applies to the simulator path" in capsys.readouterr().err
