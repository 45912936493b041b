"""A chunked, resumable dataset store: a directory of HDF5 chunks plus ``dataset.json``.

Layout of a dataset directory::

    dataset.json          configuration (grid, prior, relaxation, imaging, chunk size, count, seed,
                          physics and code version); a rerun with another configuration is refused
    chunk-000000.h5       samples [0, C)
    chunk-000001.h5       samples [C, 2C) ...   (the last chunk may hold fewer than C samples)

A chunk is written under a temporary name and renamed with ``os.replace`` (atomic on POSIX), so a
visible chunk is always complete; a job killed at any moment loses at most the chunk in flight.
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
FORMAT_VERSION = 1
META_NAME = "dataset.json"
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.h5$")
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
    """Indices of the complete (visible) chunks in ``root``."""
    out = set()
    for entry in os.scandir(root):
        m = _CHUNK_RE.match(entry.name)
        if m:
            out.add(int(m.group(1)))
    return out


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
    """Write chunk ``j`` atomically: a temporary file, fsync, then ``os.replace``."""
    root = Path(root)
    final = root / chunk_name(j)
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    try:
        _write_h5(tmp, j, arrays, attrs)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as err:
        raise DomainfitError(f"cannot write {final}: {err.strerror or err}") from None
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
        self.chunks = sorted(j for j in existing_chunks(self.root) if j < n_chunks(self.count, self.chunk_size))
        self.missing_chunks = sorted(set(range(n_chunks(self.count, self.chunk_size))) - set(self.chunks))
        fields: dict[str, list] = {k: [] for k in SCALAR_FIELDS}
        self._spans = []  # (chunk, start, stop) in the concatenated order
        start = 0
        for j in self.chunks:
            with h5py.File(self.root / chunk_name(j), "r", locking=False) as f:
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
            with h5py.File(self.root / chunk_name(j), "r", locking=False) as f:
                if name not in f:
                    raise DomainfitError(f"dataset {self.root} has no '{name}' (generated without it)")
                data = f[name][...] if len(local) == b - a else f[name][local.tolist()]
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
            with h5py.File(self.root / chunk_name(j), "r", locking=False) as f:
                h.update(np.ascontiguousarray(f["image"][...]).tobytes())
        return h.hexdigest()
