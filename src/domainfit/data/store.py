"""A chunked, resumable dataset store: a directory of HDF5 chunks plus ``dataset.json``.

Layout of a dataset directory::

    dataset.json          configuration (grid, prior, relaxation, imaging, chunk size, count, seed,
                          physics and code version); a rerun with another configuration is refused
    chunk-000000.h5       samples [0, C)
    chunk-000001.h5       samples [C, 2C) ...   (the last chunk may hold fewer than C samples)

    chunk-000000.h5.sha256  its commit marker: "<sha-256 of the chunk file> <size in bytes>"

A chunk is written under a temporary name, fsynced, renamed with ``os.replace`` (atomic on POSIX), and
then committed by its marker (written atomically too): a chunk counts only when its marker is there
and agrees with it, so a job killed at any moment loses at most the chunk in flight, and a chunk
damaged later (truncated by a copy, a full disk) is found — by its size whenever it is read, by its
checksum when ``generate`` resumes (and remakes it). Datasets of format 1 have no markers: their
chunks count when HDF5 reads them whole.
Datasets in a chunk (n samples):

    index [n] int64, seed [n] int64 (32-bit seeds, see ``prior.sample_seeds``),
    params [n, 5] float64 SI (D [J/m²], Ms [A/m], σ, Ku [J/m³], A [J/m]), component [n] int8,
    image [n, h, w] float32 (rendered m_z at ``imaging.pixel_size``, contrast m_z ∈ [-1, 1]),
    mz [n, ny, nx] float16 (optional; relaxed m_z at the cell size; float16 keeps ~3 significant
    digits, plenty for a unit-length component, and halves the storage),
    steps [n] int32, converged [n] bool, max_torque [n] float32, energy [n] float64 [J].
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from .._files import atomic_write
from ..errors import DomainfitError

FORMAT = "domainfit-dataset"
FORMAT_VERSION = 2
META_NAME = "dataset.json"
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.h5$")
MARK_SUFFIX = ".sha256"
"""Commit marker of a chunk: ``chunk-NNNNNN.h5.sha256``."""
UNCOMMITTED = "not committed (no checksum marker)"
"""``chunk_problem`` of a chunk renamed into place but killed before its marker (a kill, not damage)."""
SCALAR_FIELDS = ("index", "seed", "params", "component", "steps", "converged", "max_torque", "energy")


def chunk_name(j: int) -> str:
    return f"chunk-{j:06d}.h5"


def n_chunks(count: int, chunk_size: int) -> int:
    return -(-count // chunk_size)


def chunk_indices(j: int, count: int, chunk_size: int) -> np.ndarray:
    """Sample indices held by chunk ``j``: [jC, min((j+1)C, count))."""
    return np.arange(j * chunk_size, min((j + 1) * chunk_size, count), dtype=np.int64)


def init_store(root: str | Path, identity: dict, info: dict | None = None) -> dict:
    """Create ``root/dataset.json`` or check that the one there has the same ``identity``.

    ``identity`` holds everything that fixes the content of the samples (JSON-able); ``info`` is
    recorded on creation but not compared (code version, creation time). Returns the metadata.
    Raises ``DomainfitError`` when ``root`` holds a dataset of another configuration.
    """
    root = Path(root)
    identity = json.loads(json.dumps(identity))  # normalise tuples, floats
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DomainfitError(f"cannot create dataset folder {root}: {err.strerror or err}") from None
    path = root / META_NAME
    if path.exists():
        meta = read_meta(root)
        old = meta.get("identity", {})
        if old != identity:
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise DomainfitError(
                f"{root} holds a dataset made with another configuration (differs in: {', '.join(diff)}); "
                "rerun with the same options to resume it, or choose a new --out folder"
            )
        return meta
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "identity": identity, **(info or {})}
    atomic_write(path, json.dumps(meta, indent=2))
    return meta


def read_meta(root: str | Path) -> dict:
    path = Path(root) / META_NAME
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise DomainfitError(f"{root} is not a domainfit dataset: {META_NAME} missing") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DomainfitError(f"cannot read {path}: {err}") from None
    if meta.get("format") != FORMAT:
        raise DomainfitError(f"{path} is not a domainfit dataset description")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise DomainfitError(f"{path}: dataset format {meta.get('format_version')} is newer than this domainfit")
    return meta


def existing_chunks(root: str | Path) -> set[int]:
    """Indices of the chunk files present in ``root`` (committed or not: see ``verify_chunks``)."""
    out = set()
    for entry in os.scandir(root):
        m = _CHUNK_RE.match(entry.name)
        if m:
            out.add(int(m.group(1)))
    return out


def _file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _marker(root: Path, j: int) -> tuple[str, int] | None:
    try:
        digest, size = (root / (chunk_name(j) + MARK_SUFFIX)).read_text().split()
        return digest, int(size)
    except (OSError, ValueError):
        return None


def _legacy(root: Path) -> bool:
    return int(read_meta(root).get("format_version", 1)) < 2


def chunk_problem(root: str | Path, j: int, *, full: bool = False, legacy: bool | None = None) -> str | None:
    """Why chunk ``j`` cannot be used (None: it is complete): missing, not committed (no marker: killed
    between its rename and its marker), a size or — with ``full`` — a checksum that disagrees with its
    marker, or (format 1) HDF5 cannot read it whole."""
    root = Path(root)
    path = root / chunk_name(j)
    if not path.is_file():
        return "missing"
    if legacy if legacy is not None else _legacy(root):
        try:
            with h5py.File(path, "r", locking=False) as f:
                for name in f:
                    if full:
                        f[name][...]
                    else:
                        f[name].shape
            return None
        except Exception as err:  # noqa: BLE001 — h5py raises OSError, KeyError, RuntimeError for damage
            return f"HDF5 cannot read it ({err})"
    mark = _marker(root, j)
    if mark is None:
        return UNCOMMITTED
    size = path.stat().st_size
    if size != mark[1]:
        return f"{size} bytes where its marker says {mark[1]} (truncated or replaced)"
    if full and _file_sha256(path) != mark[0]:
        return "its checksum disagrees with its marker (damaged)"
    return None


def verify_chunks(root: str | Path, chunks: Sequence[int], *, full: bool = True) -> tuple[set[int], dict[int, str]]:
    """(complete chunks, {damaged chunk: why}) among ``chunks`` present in ``root``; missing ones are in neither."""
    root = Path(root)
    legacy = _legacy(root)
    present = existing_chunks(root)
    ok, bad = set(), {}
    for j in chunks:
        if j not in present:
            continue
        why = chunk_problem(root, j, full=full, legacy=legacy)
        if why is None:
            ok.add(j)
        else:
            bad[j] = why
    return ok, bad


def remove_chunk(root: str | Path, j: int) -> None:
    """Delete chunk ``j`` and its marker (a damaged chunk, before it is made again)."""
    for name in (chunk_name(j) + MARK_SUFFIX, chunk_name(j)):
        try:
            os.unlink(Path(root) / name)
        except FileNotFoundError:
            pass


def remove_stale_temporaries(root: str | Path, chunks: Sequence[int]) -> None:
    """Delete temporaries of ``chunks`` left by killed jobs (only chunks this job owns)."""
    names = {chunk_name(j) for j in chunks}
    for entry in os.scandir(root):
        if entry.name.startswith(".chunk-") and entry.name.endswith(".tmp"):
            base = entry.name[1:].split(".h5.")[0] + ".h5"
            if base in names:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


def write_chunk(root: str | Path, j: int, arrays: dict[str, np.ndarray], attrs: dict | None = None) -> Path:
    """Write chunk ``j`` atomically: a temporary file, fsync, ``os.replace``, then its commit marker
    (checksum and size, written atomically) — the chunk counts from that moment."""
    root = Path(root)
    final = root / chunk_name(j)
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    try:
        (root / (final.name + MARK_SUFFIX)).unlink(missing_ok=True)  # an old marker never vouches for a new file
        _write_h5(tmp, j, arrays, attrs)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        digest, size = _file_sha256(tmp), tmp.stat().st_size
        os.replace(tmp, final)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DomainfitError(f"cannot write {final}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write(root / (final.name + MARK_SUFFIX), f"{digest} {size}\n")
    return final


def _write_h5(tmp: Path, j: int, arrays: dict[str, np.ndarray], attrs: dict | None) -> None:
    # No HDF5 file locking: chunk files are never shared while written, and locks fail on many
    # cluster file systems (NFS, Lustre).
    with h5py.File(tmp, "w", locking=False) as f:
        for name, value in arrays.items():
            value = np.asarray(value)
            if value.ndim == 3:
                f.create_dataset(name, data=value, chunks=(1, *value.shape[1:]), compression="gzip", compression_opts=1)
            else:
                f.create_dataset(name, data=value)
        f.attrs["chunk"] = j
        f.attrs["host"] = socket.gethostname()
        f.attrs["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for k, v in (attrs or {}).items():
            f.attrs[k] = v


class Dataset:
    """All chunks of a dataset directory seen as one dataset (lazy for images and states).

    Small per-sample arrays (index, seed, params, ...) are read on opening; ``images`` and ``mz``
    are read on demand. Samples are ordered by index; chunks not (yet) written are listed in
    ``missing_chunks`` and their samples are absent.

    Attributes:
        root: the directory.
        meta: the content of ``dataset.json``.
        count: the number of samples the dataset is meant to hold.
        chunk_size: samples per chunk.
        index, seed, params, component, steps, converged, max_torque, energy: per available sample.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.meta = read_meta(self.root)
        ident = self.meta["identity"]
        self.count = int(ident["count"])
        self.chunk_size = int(ident["chunk_size"])
        total = n_chunks(self.count, self.chunk_size)
        ok, bad = verify_chunks(self.root, [j for j in sorted(existing_chunks(self.root)) if j < total], full=False)
        damaged = {j: why for j, why in bad.items() if why != UNCOMMITTED}
        if damaged:
            j, why = next(iter(sorted(damaged.items())))
            raise DomainfitError(f"dataset {self.root}: {chunk_name(j)} is damaged ({why}; {len(damaged)} chunk(s) in all): "
                                 "rerun `domainfit generate` with the same options to remake it")
        self.chunks = sorted(ok)
        self.missing_chunks = sorted(set(range(total)) - set(self.chunks))
        fields: dict[str, list] = {k: [] for k in SCALAR_FIELDS}
        self._spans = []  # (chunk, start, stop) in the concatenated order
        start = 0
        for j in self.chunks:
            with self._open(j) as f:
                for k in SCALAR_FIELDS:
                    fields[k].append(np.asarray(f[k]))
                n = len(f["index"])
                self.has_mz = "mz" in f
            self._spans.append((j, start, start + n))
            start += n
        for k, parts in fields.items():
            setattr(self, k, np.concatenate(parts) if parts else np.zeros((0, 5) if k == "params" else (0,)))
        if not self.chunks:
            self.has_mz = bool(ident.get("store_mz", False))

    def __len__(self) -> int:
        return len(self.index)

    def _open(self, j: int):
        """Chunk ``j`` open for reading; damage HDF5 finds becomes a one-line ``DomainfitError``."""
        try:
            return h5py.File(self.root / chunk_name(j), "r", locking=False)
        except OSError as err:
            raise DomainfitError(f"dataset {self.root}: {chunk_name(j)} cannot be read ({err}): rerun "
                                 "`domainfit generate` with the same options to remake it") from None

    @property
    def complete(self) -> bool:
        return not self.missing_chunks

    @property
    def grid(self) -> dict:
        return self.meta["identity"]["grid"]

    @property
    def image_pixel_size(self) -> float:
        """Pixel size of the stored ``image`` [m]."""
        return float(self.meta["identity"]["imaging"]["pixel_size"])

    @property
    def cell_size(self) -> float:
        return float(self.meta["identity"]["grid"]["cell_size"])

    def _read(self, name: str, rows: np.ndarray | None) -> np.ndarray:
        """Rows of a per-sample HDF5 dataset across chunks, in the order asked for."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise DomainfitError(f"sample rows out of range 0..{len(self) - 1}")
        result = None
        for j, a, b in self._spans:
            sel = np.nonzero((rows >= a) & (rows < b))[0]
            if len(sel) == 0:
                continue
            local, inverse = np.unique(rows[sel] - a, return_inverse=True)  # h5py wants increasing indices
            with self._open(j) as f:
                if name not in f:
                    raise DomainfitError(f"dataset {self.root} has no '{name}' (generated without it)")
                try:
                    data = f[name][...] if len(local) == b - a else f[name][local.tolist()]
                except (OSError, RuntimeError) as err:
                    raise DomainfitError(f"dataset {self.root}: {chunk_name(j)} is damaged ({err}): rerun "
                                         "`domainfit generate` with the same options to remake it") from None
            data = np.asarray(data)[inverse]
            if result is None:
                result = np.empty((len(rows), *data.shape[1:]), data.dtype)
            result[sel] = data
        return result if result is not None else np.zeros((0,))

    def images(self, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Rendered images [n, h, w] float32 of the given rows (all when None)."""
        return self._read("image", rows).astype(np.float32, copy=False)

    def mz(self, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Relaxed m_z [n, ny, nx] (float16 as stored) of the given rows (all when None)."""
        return self._read("mz", rows)

    def content_hash(self) -> str:
        """SHA-256 of the configuration and of every sample's seed, parameters and image (hex)."""
        import hashlib

        h = hashlib.sha256(json.dumps(self.meta["identity"], sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.index).tobytes())
        h.update(np.ascontiguousarray(self.seed).tobytes())
        h.update(np.ascontiguousarray(self.params).tobytes())
        for j, _, _ in self._spans:
            with self._open(j) as f:
                h.update(np.ascontiguousarray(f["image"][...]).tobytes())
        return h.hexdigest()
