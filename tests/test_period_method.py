"""``estimate(image, film=…, method="period")``: D from the domain period by the stripe law, with the film's
uncertainties propagated and an error budget; how ``estimate`` routes films."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import domainfit as df
from domainfit import DomainfitError
from domainfit.physics import stripes
from domainfit.workflows.period import PeriodResult, estimate_period
from domainfit.films import parse_film

INLINE = "Ms=1100kA/m±3%,Ku=0.95MJ/m3±5%,A=16pJ/m±15%,thickness=1nm,dmi=interfacial"
EXACT = "Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial"
PIXEL = 4e-9


def stripes_image(period: float, n: int = 512, angle: float = 0.3) -> np.ndarray:
    """Straight stripes of ``period`` [m] at an angle, with soft walls, on n² pixels of PIXEL."""
    y, x = np.mgrid[:n, :n] * PIXEL
    u = x * math.cos(angle) + y * math.sin(angle)
    return np.tanh(3 * np.sin(2 * math.pi * u / period)).astype(np.float32)


def film_values(film):
    v = film.values()
    return dict(Ms=v["Ms"], A=v["A"], Ku=v["Ku"], thickness=v["thickness"])


def test_the_period_gives_the_films_dmi():
    """Stripes at the film's equilibrium period for D = 2.0 mJ/m² read D = 2.0 back (exact constants,
    no law error): the image's period, measured on its domains, is inverted by the film's law."""
    film = parse_film(EXACT)
    D = 2.0e-3
    p = stripes.equilibrium_period(D=D, dmi="interfacial", **film_values(film))
    r = estimate_period(stripes_image(p), film, pixel_size=PIXEL, law_log_sd=0.0, maze_log_ratio=0.0, draws=400)
    assert isinstance(r, PeriodResult) and r.trustworthy
    assert r.report["period"]["nm"] == pytest.approx(p * 1e9, rel=0.03)
    assert r.report["parameters"]["D"]["mean"] == pytest.approx(2.0, abs=0.02)
    assert r.report["film"]["Ms"]["value"] == pytest.approx(1100)


def test_a_longer_period_reads_a_smaller_dmi_by_the_laws_slope():
    """The estimate follows the image: 1.3× the period lowers D by ln 1.3 / (d ln P/dD)."""
    film = parse_film(EXACT)
    p = stripes.equilibrium_period(D=2.0e-3, dmi="interfacial", **film_values(film))
    a = estimate_period(stripes_image(p), film, pixel_size=PIXEL, law_log_sd=0.0, maze_log_ratio=0.0, draws=200)
    b = estimate_period(stripes_image(1.3 * p), film, pixel_size=PIXEL, law_log_sd=0.0, maze_log_ratio=0.0, draws=200)
    slope = a.report["error_budget"]["dD_dlnP_mJ_per_m2"]
    assert slope < 0
    drop = b.report["parameters"]["D"]["at_film_values"] - a.report["parameters"]["D"]["at_film_values"]
    assert drop == pytest.approx(slope * math.log(1.3), rel=0.15)


def test_uncertainties_propagate_and_the_budget_adds_up():
    film = parse_film(INLINE)
    p = stripes.equilibrium_period(D=2.0e-3, dmi="interfacial", **film_values(film))
    r = estimate_period(stripes_image(p), film, pixel_size=PIXEL, draws=4000, maze_log_ratio=0.0)
    budget = r.report["error_budget"]
    assert sum(budget["shares"].values()) == pytest.approx(1.0, abs=1e-9)
    assert set(budget["shares"]) == {"Ms", "Ku", "A", "period measurement", "period law (maze vs stripes)"}
    # the first-order sd and the Monte-Carlo sd agree while the constants' errors are small
    assert budget["monte_carlo_sd_mJ_per_m2"] == pytest.approx(budget["linear_sd_mJ_per_m2"], rel=0.25)
    # A ±15 % moves D by ≈ 4√(A K_eff)/π × 7.5 % ≈ 0.17 mJ/m² (docs): its share is (0.17/sd)² roughly
    a_share = budget["shares"]["A"]
    assert 0.17e-3 * 1e3 / budget["linear_sd_mJ_per_m2"] == pytest.approx(math.sqrt(a_share), rel=0.3)
    exact = estimate_period(stripes_image(p), parse_film(EXACT), pixel_size=PIXEL, draws=400, maze_log_ratio=0.0)
    assert set(exact.report["error_budget"]["shares"]) == {"period measurement", "period law (maze vs stripes)"}
    assert exact.report["parameters"]["D"]["sd"] < 0.5 * r.report["parameters"]["D"]["sd"]


def test_a_maze_is_read_as_the_stripes_it_stands_for():
    """By default the image is a maze: the law is inverted at P·exp(1.53) (mazes keep exp(−1.53) of the
    equilibrium period, studies/period_law.py), which reads less D than the plain law."""
    from domainfit.workflows.period import MAZE_LOG_RATIO

    film = parse_film(EXACT)
    p = stripes.equilibrium_period(D=2.0e-3, dmi="interfacial", **film_values(film))
    maze = estimate_period(stripes_image(p * math.exp(MAZE_LOG_RATIO)), film, pixel_size=PIXEL, draws=200)
    assert maze.report["law"]["stripes_period_nm"] == pytest.approx(p * 1e9, rel=0.05)
    assert maze.report["parameters"]["D"]["at_film_values"] == pytest.approx(2.0, abs=0.03)
    assert max(maze.report["error_budget"]["shares"], key=maze.report["error_budget"]["shares"].get) == \
        "period law (maze vs stripes)"


def test_a_period_no_dmi_of_the_film_gives_is_flagged():
    film = parse_film(EXACT)
    p0 = stripes.equilibrium_period(D=0.0, dmi="interfacial", **film_values(film))
    assert p0 > 2e-6  # this film's stripes at D = 0 are longer than the image: take a short period instead
    r = estimate_period(stripes_image(60e-9), film, pixel_size=PIXEL, law_log_sd=0.0, maze_log_ratio=0.0, draws=200)
    assert not r.trustworthy and "D_c" in r.reasons[0]
    few = estimate_period(stripes_image(900e-9, n=256), film, pixel_size=PIXEL, draws=200)
    assert not few.trustworthy and "fewer than" in few.reasons[0]


def test_estimate_routes_films():
    """The model's own film → the CNN (with a film block); another film → the period law, saying why;
    the CNN asked for another film, or a posterior for it → an error; no film → the assumed film first."""
    own = df.estimate("example", film="co-pt")
    assert own.report["film"]["name"] == "co-pt" and not own.report.get("film_assumed")
    other = df.estimate("example", film=INLINE)
    assert isinstance(other, PeriodResult) and other.report["method"] == "period"
    assert any("know the co-pt film only" in w for w in other.warnings)
    with pytest.raises(DomainfitError, match="trained for the co-pt film"):
        df.estimate("example", film=INLINE, method="cnn")
    with pytest.raises(DomainfitError, match="--posterior is not available with --method period"):
        df.estimate("example", film=INLINE, posterior=True, method="period")
    with pytest.raises(DomainfitError, match="--sets is not available for a film other than the model's"):
        df.estimate("example", film=INLINE, sets=True)
    with pytest.raises(DomainfitError, match="needs the film's constants"):
        df.estimate("example", method="period")
    assumed = df.estimate("example")
    assert assumed.report["film_assumed"] and assumed.warnings[0].startswith("film assumed: co-pt")
    assert str(assumed).splitlines()[0].startswith("film: co-pt — ASSUMED")


def test_cli_period_method_json(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "domainfit", "estimate", "example", "--film", INLINE, "--method", "period",
                           "--json", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["method"] == "period" and report["film"]["dmi"] == "interfacial"
    assert json.loads((tmp_path / "out" / "report.json").read_text())["parameters"]["D"]["sd"] > 0


def test_a_domain_image_already_read_goes_through_the_film_paths():
    """``estimate(DomainImage, film=…)``: the image was read already, so no background flattening is asked
    of it again (it raised 'invert/flatten/binarise apply when reading an image' before)."""
    import domainfit as df
    from domainfit.workflows.inputs import read_image

    img = read_image("example", None, flatten=2)
    r = df.estimate(img, film="Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial", method="period")
    assert r.report["method"] == "period" and r.report["parameters"]["D"]["mean"] > 0
