"""Training-data generation: priors, seeds, the chunked store, resumability (SIGKILL), sharding."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import jax
import numpy as np
import pytest

from domainfit.cli import main
from domainfit.data import Dataset, GenerateConfig, augment, crop_centred, generate, preset_prior, sample_seeds
from domainfit.data.augment import augment_with
from domainfit.data.prior import PARAMETERS, with_bounds
from domainfit.data.store import chunk_name
from domainfit.errors import DomainfitError

from conftest import release_persistent_cache

# A tiny dataset whose relaxations mostly run to max_steps (tol out of reach): every chunk takes a
# similar, non-trivial time, so a kill lands mid-run. 12 samples in 4 chunks of 3.
ARGS = ["--cells", "32", "--count", "12", "--chunk", "3", "--batch", "3", "--max-steps", "1000", "--tol", "1e-12",
        "--image-pixel-size", "8", "--seed", "7", "--no-progress"]  # fmt: skip
FIELDS = ("index", "seed", "params", "component", "mz", "image", "steps", "converged", "max_torque", "energy")


def config():
    return GenerateConfig(count=12, cells=(32, 32), chunk_size=3, max_steps=1000, tol=1e-12, image_pixel_size=8e-9, seed=7)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One XLA compilation cache for this module and its subprocesses (the relaxation compiles once)."""
    folder = tmp_path_factory.mktemp("xla-cache")
    min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    yield folder
    release_persistent_cache(min_time)


def test_a_released_compilation_cache_stays_off(tmp_path):
    """The suite's cache for subprocesses must not outlive its tests: with only the directory
    unset, JAX kept writing every later program of the process into it."""
    min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.jit(lambda x: jax.numpy.sin(x) * 2.5)(np.ones(3)).block_until_ready()
    written = len(os.listdir(tmp_path))
    assert written >= 1
    release_persistent_cache(min_time)
    jax.jit(lambda x: jax.numpy.cos(x) * 3.5 + 1)(np.ones(7)).block_until_ready()
    assert len(os.listdir(tmp_path)) == written


def run_generate(out, cache, *extra, wait=True):
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    cmd = [sys.executable, "-m", "domainfit", "generate", "--out", str(out), *ARGS, *extra]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    """An uninterrupted, unsharded run (in-process, through the public API)."""
    out = tmp_path_factory.mktemp("reference")
    report = generate(out, config(), batch_size=3, progress=False)
    assert report.samples_written == 12 and report.chunks_written == 4
    return Dataset(out)


def assert_same_content(a: Dataset, b: Dataset):
    assert len(a) == len(b) == a.count
    for name in FIELDS:
        left = a.mz() if name == "mz" else a.images() if name == "image" else getattr(a, name)
        right = b.mz() if name == "mz" else b.images() if name == "image" else getattr(b, name)
        np.testing.assert_array_equal(left, right, err_msg=name)


def test_reference_dataset_is_complete_and_sane(reference):
    ds = reference
    assert ds.complete and ds.missing_chunks == [] and len(ds) == 12
    np.testing.assert_array_equal(ds.index, np.arange(12))
    assert len(np.unique(ds.seed)) == 12
    np.testing.assert_array_equal(ds.seed, sample_seeds(7, np.arange(12)))
    assert ds.mz().shape == (12, 32, 32) and ds.mz().dtype == np.float16
    assert ds.images().shape == (12, 16, 16)  # 32 cells of 4 nm rendered at 8 nm
    # The rendered image is the 2×2 area average of m_z (to float16 storage accuracy).
    mz = ds.mz().astype(np.float32)
    np.testing.assert_allclose(ds.images(), mz.reshape(12, 16, 2, 16, 2).mean((2, 4)), atol=2e-3)
    # Patterns that reach the step limit are kept and flagged (a uniform state may reach zero torque).
    assert (ds.converged == (ds.steps < 1000)).all() and (~ds.converged).any()
    meta = ds.meta["identity"]
    assert meta["physics_version"] and meta["grid"]["nx"] == 32 and meta["count"] == 12
    # Rows come back in the order asked for.
    np.testing.assert_array_equal(ds.images([5, 0, 7]), ds.images()[[5, 0, 7]])


def test_killed_generation_resumes_to_identical_content(tmp_path, cache, reference):
    out = tmp_path / "killed"
    proc = run_generate(out, cache, wait=False)
    deadline = time.time() + 240
    while not (out / chunk_name(0)).exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.005)
    time.sleep(0.2)  # into the next chunk
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in out.glob("chunk-*.h5"))
    assert 1 <= len(done) < 4, f"the kill came too late to test anything: {done}"
    # A temporary left by a kill in the middle of a write is never seen as a chunk and is cleaned up.
    (out / f".{chunk_name(3)}.99999.tmp").write_bytes(b"half a chunk")
    partial = Dataset(out)
    assert len(partial) == 3 * len(done) and partial.missing_chunks

    rerun = run_generate(out, cache)
    assert rerun.returncode == 0, rerun.stderr
    assert f"wrote {4 - len(done)} chunks" in rerun.stdout
    assert not list(out.glob(".*.tmp"))
    resumed = Dataset(out)
    assert resumed.complete
    assert len(np.unique(resumed.seed)) == 12
    assert_same_content(resumed, reference)

    again = run_generate(out, cache, "--json")  # complete: nothing to do, nothing changes
    assert again.returncode == 0 and json.loads(again.stdout)["samples_written"] == 0


def test_shards_make_the_same_dataset(tmp_path, cache, reference):
    out = tmp_path / "sharded"
    first = generate(out, config(), shard=(1, 2), batch_size=3, progress=False)
    assert first.chunks_written == 2
    partial = Dataset(out)
    assert partial.missing_chunks == [0, 2] and len(partial) == 6
    generate(out, config(), shard=(0, 2), batch_size=3, progress=False)
    assert_same_content(Dataset(out), reference)


def test_other_configuration_is_refused(reference, capsys):
    code = main(["generate", "--out", str(reference.root), *[a if a != "7" else "8" for a in ARGS]])
    err = capsys.readouterr().err
    assert code == 2 and "another configuration" in err and "seed" in err and err.count("\n") == 1
    with pytest.raises(DomainfitError, match="count"):
        generate(reference.root, GenerateConfig(**{**config().__dict__, "count": 13}), progress=False)


def test_seeds_are_unique_and_depend_only_on_seed_and_index():
    a = sample_seeds(0, np.arange(100_000))
    assert len(np.unique(a)) == len(a) and a.min() >= 0 and a.max() < 2**32
    np.testing.assert_array_equal(sample_seeds(0, [5, 99_999]), a[[5, 99_999]])
    b = sample_seeds(1, np.arange(100_000))
    assert len(np.intersect1d(a, b)) < 10  # different base seeds share (almost) nothing


def test_prior_boxes_and_mixture():
    prior = preset_prior("mix")
    params, comp = prior.sample(sample_seeds(3, np.arange(4000)))
    assert params.shape == (4000, len(PARAMETERS)) and 0.45 < comp.mean() < 0.55
    col = {n: params[:, k] for k, n in enumerate(PARAMETERS)}
    copt, low = comp == 0, comp == 1
    assert col["D"][copt].min() >= 0.1e-3 and col["D"][copt].max() <= 1.0e-3 and (col["Ms"][copt] == 1.5e6).all()
    assert (col["D"][low] == 0).all() and col["Ms"][low].min() >= 200e3 and col["Ms"][low].max() <= 700e3
    assert col["sigma"].min() >= 0.05 and col["sigma"].max() <= 0.2
    np.testing.assert_array_equal(prior.sample([11, 12])[0], prior.sample([12, 11])[0][::-1])  # no batch effects
    narrowed = with_bounds(preset_prior("co-pt"), D=(0.2e-3, 0.4e-3))
    assert narrowed.ranges()["D"] == (0.2e-3, 0.4e-3)
    assert type(prior).from_json(json.loads(json.dumps(prior.to_json()))) == prior


def test_cli_ranges_are_in_user_units(tmp_path, reference):  # after `reference`: no new compilation
    out = tmp_path / "units"
    same_simulation = ["--cells", "32", "--max-steps", "1000", "--tol", "1e-12", "--image-pixel-size", "8", "--batch", "3"]
    code = main(["generate", "--out", str(out), "--count", "1", "--preset", "co-pt", "--D", "0.2:0.4", "--Ms", "1000",
                 "--sigma", "0.1:0.1", "--Ku", "1.2", "--A", "20", "--no-progress", *same_simulation])  # fmt: skip
    assert code == 0
    bounds = json.loads((out / "dataset.json").read_text())["identity"]["prior"]["components"][0]["bounds"]
    assert bounds["D"] == pytest.approx([0.2e-3, 0.4e-3]) and bounds["Ms"] == pytest.approx([1e6, 1e6])
    assert bounds["Ku"] == pytest.approx([1.2e6, 1.2e6]) and bounds["A"] == pytest.approx([20e-12, 20e-12])
    with h5py.File(out / chunk_name(0)) as f:
        assert 0.2e-3 <= f["params"][0, 0] <= 0.4e-3


@pytest.mark.parametrize("args, words", [
    (["--shard", "2/2"], "shard"), (["--shard", "x"], "shard"), (["--D", "1:0"], "low ≤ high"),
    (["--preset", "nope"], "unknown prior preset"), (["--count", "0"], "at least one"),
])  # fmt: skip
def test_bad_generate_input_is_one_line(tmp_path, args, words, capsys):
    code = main(["generate", "--out", str(tmp_path / "x"), "--count", "4", "--cells", "16", *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1


def test_augmentation_crops_and_symmetries():
    image = jax.numpy.asarray(np.random.default_rng(0).normal(size=(48, 48)).astype(np.float32))
    crop = jax.jit(crop_centred, static_argnums=2)(image, 20, 64, shift=jax.numpy.array([5, 7]))
    nz = np.argwhere(np.asarray(crop) != 0)
    assert crop.shape == (64, 64) and nz.min(0).tolist() == [22, 22] and nz.max(0).tolist() == [41, 41]
    np.testing.assert_array_equal(np.asarray(crop)[22:42, 22:42], np.asarray(image)[5:25, 7:27])
    views = jax.jit(jax.vmap(lambda k: augment(image, key=k, out_pixels=64, crop_pixels=(16, 48))))(
        jax.random.split(jax.random.key(0), 32)
    )
    sides = [(np.abs(np.asarray(v)).sum(1) > 0).sum() for v in views]
    assert views.shape == (32, 64, 64) and 16 <= min(sides) and max(sides) <= 48 and len(set(sides)) > 3
    # Every view holds exactly the multiset of values of a periodic crop, up to sign.
    v = np.asarray(views[0])
    vals = np.sort(np.abs(v[v != 0]))
    assert vals.size == sides[0] ** 2 and np.isin(vals, np.abs(np.asarray(image))).all()


def test_mirror_fill_surrounds_a_crop_with_its_reflections():
    # Independent truth: numpy.pad(mode="symmetric"), also for pads wider than the crop (repeated
    # reflections), with the crop side traced as in training; estimation's tiles fill the same way.
    from domainfit.nn.estimate import make_tiles

    image = np.random.default_rng(3).normal(size=(48, 48)).astype(np.float32)
    crop = jax.jit(crop_centred, static_argnums=2, static_argnames="fill")
    for n in (12, 20, 48):
        got = np.asarray(crop(jax.numpy.asarray(image), jax.numpy.int32(n), 64, shift=jax.numpy.array([5, 7]), fill="mirror"))
        piece = np.roll(image, (-5, -7), axis=(0, 1))[:n, :n]
        np.testing.assert_array_equal(got, np.pad(piece, ((64 - n) // 2, 64 - n - (64 - n) // 2), mode="symmetric"))
    strip = image[:20, :30]
    np.testing.assert_array_equal(make_tiles(strip, 64, "mirror")[0], np.pad(strip, ((22, 22), (17, 17)), mode="symmetric"))
    with pytest.raises(ValueError, match="fill"):
        crop_centred(jax.numpy.asarray(image), 20, 64, shift=(0, 0), fill="edge")


def test_augmentation_with_a_set_of_fields_of_view_uses_only_those_sides():
    # Training on a set of scales (--fov a,b,c) must never show the scales in between, and must show
    # each of the set about equally often: the scale-generalisation test relies on both.
    image = jax.numpy.asarray(np.random.default_rng(1).normal(size=(48, 48)).astype(np.float32))
    u = jax.numpy.asarray(np.random.default_rng(2).random((400, 5), dtype=np.float32))
    views = jax.jit(jax.vmap(lambda v: augment_with(image, v, out_pixels=64, crop_pixels=(16, 32, 48), discrete=True)))(u)
    sides = np.array([(np.abs(np.asarray(v)).sum(1) > 0).sum() for v in views])
    counts = {s: int((sides == s).sum()) for s in (16, 32, 48)}
    assert set(sides.tolist()) == {16, 32, 48} and min(counts.values()) > 100, counts


def test_pbb_minimiser_is_recorded_in_the_identity_and_not_mixed_with_bb(tmp_path, cache):
    # `generate --minimiser pbb` (the preconditioned tail, 2x faster at 512²) must not resume a dataset
    # relaxed by BB nor the reverse; datasets made before the option (BB) keep their identity unchanged.
    base = dict(count=2, cells=(32, 32), chunk_size=2, max_steps=5000, tol=1e-3, image_pixel_size=8e-9, seed=3)
    bb, pbb = GenerateConfig(**base), GenerateConfig(**base, minimiser="pbb")
    assert "minimiser" not in bb.identity()["relax"]
    assert pbb.identity()["relax"]["minimiser"] == "PBB(length=1.25*sqrt(A/K_eff), switch=0.5, field='spectral')"
    report = generate(tmp_path / "pbb", pbb, batch_size=1, progress=False)
    ds = Dataset(tmp_path / "pbb")
    assert report.samples_written == 2 and bool(np.all(ds.converged))
    with pytest.raises(DomainfitError, match="another configuration"):
        generate(tmp_path / "pbb", bb, progress=False)
    with pytest.raises(DomainfitError, match="minimiser 'lbfgs'"):
        GenerateConfig(**base, minimiser="lbfgs")


# The writer slowed down inside a chunk (each HDF5 dataset, then the commit marker), so that a kill at
# a random moment lands in the middle of writing one: inside the HDF5 file, between its rename and its
# marker, or in the marker.
SLOW_WRITER = """
import sys, time
import h5py
import domainfit.data.store as store
create = h5py.Group.create_dataset
def slow_create(self, *a, **k):
    out = create(self, *a, **k)
    time.sleep(0.08)
    return out
h5py.Group.create_dataset = slow_create
mark = store.atomic_write
def slow_mark(*a, **k):
    time.sleep(0.3)
    return mark(*a, **k)
store.atomic_write = slow_mark
from domainfit.cli import run
sys.argv = ["domainfit", *sys.argv[1:]]
run()
"""


def test_ten_kills_mid_write_resume_to_the_uninterrupted_dataset(tmp_path, cache, reference):
    # Issue 35, acceptance 3: SIGKILL at ten random moments inside chunk writes; after each, what the
    # store shows is complete chunks only (equal to the reference's); the resumed dataset equals it.
    rng = np.random.default_rng(35)
    out = tmp_path / "kills"
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    landed = []
    for k in range(10):
        proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, "generate", "--out", str(out), *ARGS], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 240
        while not list(out.glob(".chunk-*.tmp")) and proc.poll() is None:
            assert time.time() < deadline
            time.sleep(0.002)
        if proc.poll() is not None:  # nothing left to write: the dataset is complete
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        time.sleep(rng.uniform(0.0, 1.4))  # the write takes ~0.8 s, its marker 0.3 s more
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        landed.append(sorted(p.name for p in out.iterdir()))
        partial = Dataset(out)  # never an error, never a damaged chunk counted
        np.testing.assert_array_equal(partial.images(), reference.images(partial.index.astype(int)))
        np.testing.assert_array_equal(partial.params, reference.params[partial.index.astype(int)])
    assert len(landed) >= 3, f"too few kills landed in a write: {landed}"
    rerun = run_generate(out, cache)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_content(Dataset(out), reference)
    assert not list(out.glob(".*.tmp"))


def test_a_damaged_chunk_is_an_error_on_read_and_remade_on_resume(tmp_path, cache, reference, capsys):
    import shutil

    out = tmp_path / "damaged"
    shutil.copytree(reference.root, out)
    path = out / chunk_name(1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated by a copy or a full disk
    with pytest.raises(DomainfitError, match=r"chunk-000001.h5 is damaged .*truncated.*rerun `domainfit generate`"):
        Dataset(out)
    assert main(["evaluate", "--data", str(out)]) == 2 and capsys.readouterr().err.count("\n") == 1
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # same size, one byte changed: only the checksum sees it
    path.write_bytes(bytes(flipped))
    (out / (chunk_name(2) + ".sha256")).unlink()  # killed between the rename and the marker: not committed
    assert Dataset(out).missing_chunks == [2]
    rerun = run_generate(out, cache, "--json")
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["chunks_written"] == 2 and len(report["remade_damaged"]) == 1
    assert "chunk-000001.h5" in report["remade_damaged"][0] and "checksum" in report["remade_damaged"][0]
    assert_same_content(Dataset(out), reference)
