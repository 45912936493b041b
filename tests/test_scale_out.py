"""Relaxations as tasks on a Dask cluster (``tasks``, issue 37): a dataset made by workers equals the serial
run's array for array, also when a worker is killed mid-run; the film path's design the same; bad
options and an unreachable scheduler are one-line errors; ``import domainfit.cli`` loads no dask; the
SLURM configuration of docs/scale-out.md renders its job script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
from distributed import get_task_stream  # noqa: E402

from domainfit.cli import main  # noqa: E402
from domainfit.data import Dataset, GenerateConfig, generate, preset_prior  # noqa: E402
from domainfit.data import store  # noqa: E402
from domainfit.errors import DomainfitError  # noqa: E402
from domainfit.tasks import Cluster, open_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV_BEFORE = dict(os.environ)
FIELDS = ("index", "seed", "params", "component", "steps", "converged", "max_torque", "energy")
# 14 samples in chunks of 4: a short last chunk; 32² co-pt, relaxed in ~0.1–0.3 s each
CONFIG = GenerateConfig(count=14, prior=preset_prior("co-pt"), cells=(32, 32), chunk_size=4, seed=7, max_steps=4000)


def assert_same_dataset(a: Path, b: Path) -> None:
    x, y = Dataset(a), Dataset(b)
    assert x.complete and y.complete
    for name in FIELDS:
        assert np.array_equal(getattr(x, name), getattr(y, name)), name
    assert np.array_equal(x.images(), y.images()) and np.array_equal(x.mz(), y.mz())
    assert x.content_hash() == y.content_hash()


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "data"
    generate(out, CONFIG, progress=False)
    return out


@pytest.fixture(scope="module")
def client():
    """Two local worker processes, shared by the tests of this module (started once: ~5 s)."""
    with open_cluster(Cluster(workers=2)) as c:
        yield c


def test_generate_with_two_workers_writes_the_serial_dataset(serial, tmp_path, capsys):
    """`domainfit generate --workers 2` (its own local cluster) against the serial run of the same configuration."""
    out = tmp_path / "data"
    argv = ["generate", "--out", str(out), "--count", str(CONFIG.count), "--chunk", str(CONFIG.chunk_size), "--cells", "32",
            "--preset", "co-pt", "--seed", str(CONFIG.seed), "--max-steps", str(CONFIG.max_steps), "--no-progress",
            "--json", "-", "--workers", "2"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chunks_written"] == report["chunks_total"] == 4 and report["samples_written"] == CONFIG.count
    assert_same_dataset(out, serial)
    import h5py

    for j in range(4):  # written by this process from the workers' results
        with h5py.File(out / store.chunk_name(j), "r") as f:
            assert f.attrs["task_seconds"] > 0 and "wall_time_s" not in f.attrs


def test_a_worker_killed_mid_run_loses_nothing(serial, client, tmp_path):
    """SIGKILL to a worker while chunks are being made: its tasks run again on the other (or its restarted
    self), the run completes, and the dataset equals the serial one with every state present once."""
    out = tmp_path / "data"
    config = CONFIG
    pids = sorted(client.run(os.getpid).values())
    killed = {}

    def kill_when_a_chunk_is_written():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            marks = list(out.glob("*.sha256")) if out.exists() else []
            if marks:
                killed["chunks_then"] = len(marks)
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_when_a_chunk_is_written)
    watcher.start()
    report = generate(out, config, progress=False, cluster=client)
    watcher.join()
    assert 0 < killed["chunks_then"] < report.chunks_total  # killed mid-run, not after it
    assert pids[0] not in client.run(os.getpid).values()  # that worker is gone (its nanny started another)
    ds = Dataset(out)
    assert np.array_equal(np.sort(ds.index), np.arange(config.count)) and len(np.unique(ds.index)) == config.count
    assert_same_dataset(out, serial)


def test_each_local_worker_has_one_thread_and_the_pinned_xla(client):
    client.wait_for_workers(2, timeout=60)  # a worker killed above is restarted by its nanny, with the same settings
    assert os.environ.get("OMP_NUM_THREADS") != "1" or "OMP_NUM_THREADS" in ENV_BEFORE  # this process's left alone
    assert set(client.nthreads().values()) == {1} and len(client.nthreads()) == 2
    for env in client.run(lambda: {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "OMP_NUM_THREADS")}).values():
        assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"] and env["OMP_NUM_THREADS"] == "1"
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:  # each worker bound to a core of its own: its event loop, and the thread running tasks
        loops = sorted(sorted(a) for a in client.run(lambda: os.sched_getaffinity(0)).values())
        tasks = {tuple(sorted(a)) for a in client.gather([client.submit(lambda i: os.sched_getaffinity(0), i, pure=False)
                                                          for i in range(8)])}
        assert loops == [[cores[0]], [cores[1]]] and tasks <= {(cores[0],), (cores[1],)}


def test_the_film_design_on_workers_equals_the_serial_one(client, tmp_path):
    from domainfit.films import parse_film
    from domainfit.forward import design

    film = parse_film("Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial")
    grid = design.FilmGrid(cells=64, cell_size=3e-9)
    v = film.values()
    x = [float(design.reduced_wall_energy(u * film.critical_dmi, v["Ms"], v["Ku"], v["A"], v["thickness"]))
         for u in (0.8, 0.9)]
    points = design.design_points(film, x, (0.1,))
    here = design.simulate_points(film, grid, points, (0, 1), cache=tmp_path / "here")
    there = design.simulate_points(film, grid, points, (0, 1), cache=tmp_path / "there", cluster=client)
    assert np.all(np.isfinite(here.stats)) and np.all(there.seconds > 0)
    assert np.array_equal(there.converged, here.converged)
    np.testing.assert_array_equal(there.stats, here.stats)
    again = design.simulate_points(film, grid, points, (0, 1), cache=tmp_path / "there", cluster=client)
    assert np.all(again.seconds == 0) and np.array_equal(again.stats, here.stats)  # read from the cache


@pytest.mark.parametrize("kwargs, words", [
    (dict(workers=0), "--workers 0: need a whole number"),
    (dict(workers=2, scheduler="tcp://127.0.0.1:8786"), "--workers and --scheduler together"),
    (dict(scheduler=" "), "--scheduler needs an address"),
])
def test_bad_cluster_options_are_refused(kwargs, words):
    with pytest.raises(DomainfitError, match=re.escape(words)):
        Cluster(**kwargs)


def test_cli_refuses_bad_cluster_options_in_one_line(tmp_path, capsys):
    base = ["generate", "--out", str(tmp_path / "d"), "--count", "2", "--cells", "32"]
    assert main([*base, "--workers", "0"]) == 2
    assert main([*base, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("domainfit: error: --workers") for line in err)
    assert not (tmp_path / "d").exists()  # refused before any work


def test_an_unreachable_scheduler_is_an_error_within_its_timeout():
    t0 = time.perf_counter()
    with pytest.raises(DomainfitError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s"):
        with open_cluster(Cluster(scheduler="tcp://127.0.0.1:9", timeout=2)):
            pass
    assert time.perf_counter() - t0 < 15


def test_the_command_line_does_not_load_dask():
    code = ("import sys, domainfit.cli; domainfit.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'dask_jobqueue'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_slurm_configuration_of_the_docs_renders_its_job_script():
    """The SLURMCluster block of docs/scale-out.md, run as written (no job is submitted)."""
    pytest.importorskip("dask_jobqueue")
    text = (ROOT / "docs" / "scale-out.md").read_text()
    block = re.search(r"```python\n(# slurm_cluster\.py.*?)```", text, re.S).group(1)
    namespace: dict = {}
    with warnings.catch_warnings():  # "port 8787 in use": this module's cluster has the dashboard's port
        warnings.simplefilter("ignore", UserWarning)
        exec(compile(block, "docs/scale-out.md", "exec"), namespace)
    cluster = namespace["cluster"]
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH" in script and "--cpus-per-task=" in script
    assert "--nthreads 1" in script  # one thread per worker process
    assert "xla_cpu_multi_thread_eigen=false" in script  # the workers' threads pinned, as --workers does
    assert "distributed.cli.dask_worker" in script or "dask worker" in script or "dask-worker" in script


def _tiny_model(path: Path, *, instruments: bool) -> Path:
    """An untrained tiny CNN with real metadata (what a reading is does not depend on the weights); with
    ``instruments``, one trained on instrument views (flattened, recorded by ``TRAINING_INSTRUMENTS``)."""
    import jax

    from domainfit.data import TRAINING_INSTRUMENTS
    from domainfit.nn import make_model, save_model
    from domainfit.nn.train import normalisation

    ranges = {"D": (0.0, 1e-3), "Ms": (200e3, 1.5e6), "sigma": (0.05, 0.2)}
    model, state = make_model(in_pixels=64, widths=(4, 4, 8, 8, 8, 8), key=jax.random.key(0))
    meta = {"pixel_size": 8e-9 if instruments else 4e-9, "targets": ["D", "Ms", "sigma"],
            "normalisation": normalisation(ranges), "ranges": {k: list(v) for k, v in ranges.items()},
            "fov": [0.2e-6, 0.512e-6], "training": {"steps": 0, "data_hash": "none"}, "code_version": "test",
            "physics_version": "1"}
    if instruments:
        meta.update(instruments=TRAINING_INSTRUMENTS.to_json(), preprocess={"flatten": 2})
    return save_model(path, model, state, meta)


@pytest.mark.parametrize("instruments", [False, True])
def test_calibrate_on_a_cluster_writes_the_serial_record(client, tmp_path, capsys, instruments):
    """`domainfit calibrate --scheduler` (the module's two workers reading chunks of rows) against the
    same command in one process: the stored record — factors, per field of view, per family and
    instrument settings — and the support reference beside the model are identical."""
    from nn_helpers import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", count=12, pixels=128, chunk=4, preset="co-pt", mz=instruments)
    fov = "0.128,0.256,0.512" if instruments else "0.128,0.256"
    records, support, tasks = [], [], []
    for where in ("here", "there"):
        model = _tiny_model(tmp_path / where / "m.eqx", instruments=instruments)
        argv = ["calibrate", "--model", str(model), "--data", str(data), "--split", "all", "--fov", fov,
                "--draws", "1", "--no-progress", "--json", "-"]
        with get_task_stream(client) as stream:
            assert main(argv + (["--scheduler", client.scheduler.address] if where == "there" else [])) == 0
        tasks.append({t["key"].rsplit("-", 2)[0] for t in stream.data})
        records.append(json.loads(capsys.readouterr().out))
        assert json.loads(model.with_suffix(".json").read_text())["spread_calibration"] == records[-1]
        support += [p.read_bytes() for p in sorted(model.parent.glob("*support*"))]
    assert tasks == [set(), {"recorded views" if instruments else "view estimates"}]  # read by the workers
    assert records[0] == records[1] and records[0]["rows"] == 12
    assert ("per_family" in records[0]) == instruments and ("support" in records[0]) == instruments
    assert len(support) == (2 if instruments else 0) and len(set(support)) <= 1  # the same reference file


def test_emulator_readings_on_a_cluster_fit_the_serial_emulator(client, tmp_path, capsys):
    """`domainfit emulator --learned --scheduler`: the CNN's readings of the 24 images made by the workers,
    the fit here — the saved emulator equals the one-process fit array for array."""
    from nn_helpers import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", count=24, chunk=8, preset="co-pt")
    model = _tiny_model(tmp_path / "m.eqx", instruments=False)
    base = ["emulator", "--data", str(data), "--model", str(model), "--learned", "--degree", "2", "--degree-var", "1",
            "--json", "-"]
    for name, extra in (("here", []), ("there", ["--scheduler", client.scheduler.address])):
        with get_task_stream(client) as stream:
            assert main([*base, "--out", str(tmp_path / f"{name}.npz"), *extra]) == 0
        assert bool(stream.data) == bool(extra)  # the readings made by the workers
        assert json.loads(capsys.readouterr().out)["statistics"][-3:] == ["cnn_D", "cnn_Ms", "cnn_sigma"]
    here, there = np.load(tmp_path / "here.npz"), np.load(tmp_path / "there.npz")
    assert sorted(here.files) == sorted(there.files)
    for key in here.files:
        assert np.array_equal(here[key], there[key]), key
    assert main(["emulator", "--data", str(data), "--out", str(tmp_path / "x.npz"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "apply with --learned" in err and err.count("\n") == 1 and not (tmp_path / "x.npz").exists()


def test_estimate_passes_its_cluster_to_the_film_path_only(monkeypatch, tmp_path, capsys):
    """`estimate IMAGE --film F --posterior --workers 2`: the simulator path's relaxations get the cluster
    (a fake film_posterior records what reached it); elsewhere the option is a one-line error."""
    from domainfit.cli import build_parser
    from domainfit.workflows import film_posterior as fp

    args = build_parser().parse_args(["estimate", "example", "--film", "low-ms", "--posterior", "--workers", "2"])
    assert (args.workers, args.scheduler) == (2, None)
    seen = {}

    def fake(image, film, **kw):
        seen.update(kw, film=film)
        raise DomainfitError("stopped here by the test")

    monkeypatch.setattr(fp, "film_posterior", fake)
    film = "Ms=1100kA/m,Ku=0.95MJ/m3,A=16pJ/m,thickness=1nm,dmi=interfacial"
    assert main(["estimate", "example", "--film", film, "--posterior", "--workers", "2", "--no-progress"]) == 2
    assert seen["cluster"] == Cluster(workers=2) and "stopped here by the test" in capsys.readouterr().err
    assert main(["estimate", "example", "--film", film, "--posterior", "--scheduler", "tcp://10.0.0.5:8786"]) == 2
    assert seen["cluster"] == Cluster(scheduler="tcp://10.0.0.5:8786")
    capsys.readouterr()
    for extra in ([], ["--film", film], ["--film", film, "--posterior", "--method", "period"]):
        assert main(["estimate", "example", *extra, "--workers", "2"]) == 2
        err = capsys.readouterr().err
        assert "--workers/--scheduler applies to the simulator path" in err and err.count("\n") == 1, err


def test_sbc_cases_on_a_cluster_are_the_serial_ones(client, tmp_path):
    """`python -m studies.sbc --scheduler` (one task per held-out image, each from its own seeds) writes the
    cases of the one-process run, but for their wall times; a finished run resumes with no task at all."""
    from studies import sbc

    data = tmp_path / "data"  # two co-pt states at 64² (bulk DMI, as the shipped set), relaxed here (~3 s)
    generate(data, GenerateConfig(count=2, prior=preset_prior("co-pt"), cells=(64, 64), chunk_size=1, seed=99, dmi="bulk"),
             progress=False)
    base = ["--set", "co-pt", "--data", str(data), "--chunks", "all", "--grid", "--ranks", "9"]
    sbc.main([*base, "--json", str(tmp_path / "here.json")])
    with get_task_stream(client) as stream:
        sbc.main([*base, "--json", str(tmp_path / "there.json"), "--scheduler", client.scheduler.address])
    assert len(stream.data) == 2  # one task per image
    here, there = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "there"))
    strip = lambda cases: [{k: v for k, v in c.items() if k != "wall_time_s"} for c in cases]  # noqa: E731
    assert len(here["cases"]) == 2 and strip(here["cases"]) == strip(there["cases"])
    assert here["summary"] == there["summary"]
    with get_task_stream(client) as stream:
        sbc.main([*base, "--json", str(tmp_path / "there.json"), "--scheduler", client.scheduler.address])
    assert stream.data == [] and strip(json.loads((tmp_path / "there.json").read_text())["cases"]) == strip(here["cases"])
