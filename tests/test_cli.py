"""The `domainfit simulate` command: outputs, and one-line errors with exit code 2 for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from domainfit.cli import main


def run_cli(*args):
    """Run the real command in a subprocess (what a user sees: stdout, stderr, exit code)."""
    proc = subprocess.run(
        [sys.executable, "-m", "domainfit", *args], capture_output=True, text=True, timeout=600
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_simulate_writes_npz_png_and_json(tmp_path):
    out, png = tmp_path / "state.npz", tmp_path / "mz.png"
    code, stdout, stderr = run_cli(
        "simulate", "--cells", "48", "--D", "1.5", "--sigma", "0.1", "--seed", "3",
        "--out", str(out), "--png", str(png), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads(stdout)
    summary = report["summary"]
    for key in ("energy_J", "max_torque", "steps", "converged", "mean_mz", "wall_density_per_um", "period_nm"):
        assert key in summary
    assert summary["converged"] and summary["max_torque"] < 1e-4
    assert report["config"]["parameters_SI"]["D_J_per_m2"] == pytest.approx(1.5e-3)
    assert report["config"]["parameters_SI"]["Ms_A_per_m"] == pytest.approx(1.5e6)  # from the preset
    data = np.load(out)
    assert data["m"].shape == (3, 48, 48)
    np.testing.assert_allclose(np.linalg.norm(data["m"], axis=0), 1.0, rtol=1e-5)
    assert json.loads(str(data["config_json"]))["seed"] == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(summary["mean_mz"], data["m"][2].mean(), rtol=1e-5)


def test_units_are_converted_at_the_edge(tmp_path, capsys):
    code = main(["simulate", "--cells", "32", "--Ms", "600", "--Ku", "0.8", "--A", "12", "--D", "0.5",
                 "--field", "10", "--thickness", "2", "--cell-size", "3", "--json"])  # fmt: skip
    assert code == 0
    config = json.loads(capsys.readouterr().out)["config"]
    p = config["parameters_SI"]
    assert p["Ms_A_per_m"] == pytest.approx(6e5)
    assert p["Ku_J_per_m3"] == pytest.approx(8e5)
    assert p["A_J_per_m"] == pytest.approx(12e-12)
    assert p["D_J_per_m2"] == pytest.approx(0.5e-3)
    assert p["H_ext_A_per_m"][2] == pytest.approx(10e-3 / 1.25663706212e-6)
    assert config["grid"]["thickness_m"] == pytest.approx(2e-9)
    assert config["grid"]["cell_size_m"] == pytest.approx(3e-9)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--Ms", "0"], "saturation magnetisation"),
        (["--Ms", "-100"], "saturation magnetisation"),
        (["--A", "-1"], "exchange"),
        (["--sigma", "-0.1"], "dispersion"),
        (["--cells", "4"], "at least 8"),
        (["--cell-size", "0"], "cell-size"),
        (["--cell-size", "-4"], "cell-size"),
        (["--D", "nan"], "D = nan"),
        (["--Ku", "inf"], "Ku = inf"),
        (["--preset", "permalloy"], "unknown preset"),
        (["--cells", "abc"], "invalid int"),
        (["--out", "/no/such/folder/x.npz"], "does not exist"),
        (["--tol", "0"], "tolerance"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, words, capsys):
    code = main(["simulate", "--cells", "16", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert err.count("\n") == 1 and err.startswith("domainfit: error:")
    assert "Traceback" not in err


def test_bad_input_through_the_installed_entry_point():
    code, _, stderr = run_cli("simulate", "--Ms", "-1")
    assert code == 2 and "Traceback" not in stderr and "saturation magnetisation" in stderr


def test_unwritable_output_fails_before_the_relaxation(capsys, monkeypatch):
    # `simulate --out /proc/x.npz` used to relax first and fail on writing. The output is probed first:
    # one line, exit 2, and no relaxation started.
    import domainfit.physics

    def no_relaxation(*args, **kwargs):
        raise AssertionError("the relaxation started before the output was checked")

    monkeypatch.setattr(domainfit.physics, "simulate", no_relaxation)
    for out in ("/proc/x.npz", "/proc/self/x.png"):
        flag = "--png" if out.endswith(".png") else "--out"
        assert main(["simulate", "--cells", "16", flag, out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("domainfit: error: cannot write") and err.count("\n") == 1


def test_simulate_warns_when_the_regime_is_no_resolved_maze(capsys):
    # `simulate --D 50` reported "converged", period 3.8 cells, and nothing else. Independent numbers
    # for co-pt (Ms 1.5 MA/m, A 31 pJ/m, Ku 1.6 MJ/m³): K_eff = Ku − μ0Ms²/2 = 0.186 MJ/m³,
    # D_c = 4√(A K_eff)/π = 3.06 mJ/m², spiral period 4πA/D = 7.8 nm at 50 mJ/m²; Δ = √(A/K_eff) = 12.9 nm.
    from domainfit.physics import make_material
    from domainfit.physics.material import regime_warnings

    k_eff = 1.6e6 - 0.5 * 4e-7 * np.pi * 1.5e6**2
    d_c = 4 * np.sqrt(31e-12 * k_eff) / np.pi
    assert d_c == pytest.approx(3.06e-3, rel=0.01)
    assert regime_warnings(make_material("co-pt", D=0.99 * d_c), 4e-9, 300e-9) == []
    above = regime_warnings(make_material("co-pt", D=1.01 * d_c), 4e-9)
    assert len(above) == 1 and "exceeds D_c" in above[0] and f"{d_c * 1e3:.3g} mJ/m²" in above[0]
    coarse = regime_warnings(make_material("co-pt", D=1e-3), 14e-9)
    assert any("wall parameter" in w and "12.9 nm" in w for w in coarse)
    assert any("spans only 3.8 cells" in w for w in regime_warnings(make_material("co-pt", D=1e-3), 4e-9, 15.2e-9))
    assert any("not perpendicular" in w for w in regime_warnings(make_material("co-pt", Ku=1.0e6), 4e-9))
    code = main(["simulate", "--cells", "32", "--D", "50", "--max-steps", "300", "--json"])
    report = json.loads(capsys.readouterr().out)
    # a spin spiral is no domain pattern: converged, it is flagged (exit 3, not 0); it may stop unconverged (1)
    assert code == (3 if report["summary"]["converged"] else 1) and not report["summary"]["domain_regime"]
    assert any("exceeds D_c" in w and "7.79 nm" in w for w in report["summary"]["warnings"]), report["summary"]


def test_json_option_prints_json_or_writes_it_beside_the_text(tmp_path, capsys):
    # --json alone puts the report on stdout instead of the text; --json FILE keeps the text and writes
    # the same report to FILE; an unwritable FILE is refused before the image is read.
    assert main(["inspect", "example", "--no-figure", "--json"]) == 0
    on_stdout = json.loads(capsys.readouterr().out)
    out = tmp_path / "out.json"
    assert main(["inspect", "example", "--no-figure", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "domain period" in text and not text.lstrip().startswith("{")
    assert json.loads(out.read_text()) == on_stdout
    assert main(["inspect", "example", "--no-figure", "--json", str(tmp_path / "no" / "out.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_ctrl_c_during_start_up_is_an_interrupt_not_a_traceback():
    # Ctrl-C while JAX loads printed a traceback (an ImportError from an extension's start-up, or
    # "Exception ignored in _xla_gc_callback" after which the command went on and exit 0).
    import signal
    import time

    for delay in (0.3, 0.6, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "domainfit", "estimate", "example"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 130 and "Traceback" not in err, (delay, err[-1500:])
        assert err.strip().endswith("domainfit: interrupted") and "D =" not in out


def test_emulator_geometry_option_takes_sign_by_default_or_domains(capsys):
    from domainfit.cli import build_parser

    parse = build_parser().parse_args
    base = ["emulator", "--data", "d", "--model", "m", "--learned"]
    assert parse(base).geometry is None
    assert parse(base + ["--geometry"]).geometry == "sign"
    assert parse(base + ["--geometry", "domains"]).geometry == "domains"
    assert main(base + ["--geometry", "edges"]) == 2
    assert "invalid choice: 'edges'" in capsys.readouterr().err
