"""Writers of scanning-probe files for the tests: Gwyddion through gwyfile's own writer; Igor binary
wave 5 (Asylum), Nanonis .sxm and Nanoscope byte by byte from the formats' descriptions (WaveMetrics
Technical Note PTN003; the Nanonis file-format notes; the Nanoscope header as Gwyddion reads it), so that
a file's layout is fixed here independently of the readers under test.

Each writer takes images ``{label: data[y, x]}`` with row 0 the top of the frame, and stores them in the
file's own order (Igor: [x, y] with y up; Nanonis: acquisition order, an upward scan, backward lines
right to left; Nanoscope: bottom row first).
"""

from __future__ import annotations

import struct

import numpy as np


def write_gwy(path, images: dict[str, np.ndarray], pixel_size: float, units: dict[str, str]) -> None:
    from gwyfile.objects import GwyContainer, GwyDataField

    container = GwyContainer()
    for i, (title, data) in enumerate(images.items()):
        ny, nx = data.shape
        container[f"/{i}/data"] = GwyDataField(np.asarray(data, dtype=np.float64), xreal=nx * pixel_size,
                                               yreal=ny * pixel_size, si_unit_xy="m", si_unit_z=units.get(title, ""))
        container[f"/{i}/data/title"] = title
    container.tofile(str(path))


# --- Igor binary wave, version 5 (PTN003) ---------------------------------------------------------------

_BIN5 = "<hhllll4l4llll"  # version, checksum, wfmSize, formulaSize, noteSize, dataEUnitsSize, dimEUnitsSize[4],
#                            dimLabelsSize[4], sIndicesSize, optionsSize1, optionsSize2: 64 bytes
_WAVE5 = "<IIIlhh6sh32slI4l4d4d4s16shhddI4I4II16lhhhccIlhhII"  # WaveHeader5: 320 bytes
NT_FP32 = 2


def write_ibw(path, images: dict[str, np.ndarray], pixel_size: float) -> None:
    """An Asylum Research image: a float32 wave [x, y, layer], x and y scaled in metres, layer names as
    dimension labels, scan sizes in the note."""
    assert struct.calcsize(_BIN5) == 64 and struct.calcsize(_WAVE5) == 320
    ny, nx = next(iter(images.values())).shape
    wave = np.stack([np.flipud(d).T for d in images.values()], axis=2).astype("<f4")  # [x, y up, layer]
    data = wave.tobytes(order="F")
    note = "\r".join([f"ScanSize: {nx * pixel_size!r}", f"FastScanSize: {nx * pixel_size!r}",
                      f"SlowScanSize: {ny * pixel_size!r}", "ImagingMode: AC Mode", "ScanLines: %d" % ny]).encode()
    labels = b"".join(name.encode().ljust(32, b"\0") for name in [""] + list(images))  # dimension's own, then layers
    nlayers = len(images)

    def bin_header(checksum: int) -> bytes:
        return struct.pack(_BIN5, 5, checksum, 320 + len(data), 0, len(note), 0, 0, 0, 0, 0, 0, 0, len(labels), 0, 0,
                           0, 0)

    header = struct.pack(_WAVE5, 0, 0, 0, nx * ny * nlayers, NT_FP32, 0, b"", 1, b"Image0001", 0, 0,
                         nx, ny, nlayers, 0, pixel_size, pixel_size, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, b"",
                         b"m\0\0\0m\0\0\0\0\0\0\0\0\0\0\0", 0, 0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                         *([0] * 16), 0, 0, 0, b"\0", b"\0", 0, 0, 0, 0, 0, 0)
    words = np.frombuffer(bin_header(0) + header, dtype="<i2").astype(np.int64)
    checksum = int(-(words.sum()) % 65536)
    checksum = checksum - 65536 if checksum >= 32768 else checksum  # the 16-bit sum of both headers is then 0
    with open(path, "wb") as f:
        f.write(bin_header(checksum) + header + data + note + labels)


# --- Nanonis .sxm -----------------------------------------------------------------------------------------


def write_sxm(path, channels: dict[str, tuple[str, np.ndarray, np.ndarray]], pixel_size: float) -> None:
    """``channels``: {name: (unit, forward image, backward image)}, scanned upward (first line at the
    bottom), each channel in both directions; big-endian float32 after the header's \\x1a\\x04."""
    ny, nx = next(iter(channels.values()))[1].shape
    rows = "\n".join(f"\t{14 + i}\t{name}\t{unit}\tboth\t1.000E+0\t0.000E+0"
                     for i, (name, (unit, _, _)) in enumerate(channels.items()))
    tags = [("NANONIS_VERSION", "2"), ("SCANIT_TYPE", "              FLOAT            MSBFIRST"),
            ("REC_DATE", "01.02.2024"), ("REC_TIME", "12:00:00"), ("ACQ_TIME", "       100.0"),
            ("SCAN_PIXELS", f"       {nx}       {ny}"), ("SCAN_TIME", "             1.000E+0             1.000E+0"),
            ("SCAN_RANGE", f"           {nx * pixel_size:.6E}           {ny * pixel_size:.6E}"),
            ("SCAN_OFFSET", "             0.000000E+0         0.000000E+0"), ("SCAN_ANGLE", "            0.000E+0"),
            ("SCAN_DIR", "up"), ("BIAS", "             1.000E-1")]
    text = "".join(f":{k}:\n{v}\n" for k, v in tags)
    text += f":DATA_INFO:\n\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n{rows}\n\n:SCANIT_END:\n\n\n"
    blocks = []
    for _, forward, backward in channels.values():
        blocks.append(np.flipud(forward))  # upward scan: the first line recorded is the bottom one
        blocks.append(np.flipud(backward)[:, ::-1])  # backward lines are recorded right to left
    with open(path, "wb") as f:
        f.write(text.encode("latin-1") + b"\x1a\x04" + np.stack(blocks).astype(">f4").tobytes())


# --- Nanoscope ------------------------------------------------------------------------------------------


def write_nanoscope(path, images: list[dict], pixel_size: float, *, size_unit: str = "~m") -> None:
    """``images``: [{"name", "counts" (int16 [y, x]), "direction", "sens" (key), "volts_per_lsb",
    "interleave"}]; sensitivities ``@Sens. Zsens: V 20 nm/V`` and ``@Sens. Phase: V 18 º/V``."""
    ny, nx = images[0]["counts"].shape
    scale = {"~m": 1e-6, "nm": 1e-9}[size_unit]
    size = f"{nx * pixel_size / scale:.6f} {ny * pixel_size / scale:.6f} {size_unit}"
    head = ["\\*File list", "\\Version: 0x09200000", "\\Date: 12:00:00 PM Fri Feb 02 2024",
            "\\*Scanner list", "\\@Sens. Zsens: V 20.00000 nm/V", "\\@Sens. Phase: V 18.00000 º/V",
            "\\*Ciao scan list", f"\\Scan Size: {size}", f"\\Samps/line: {nx}", f"\\Lines: {ny}"]
    offset, data = 40960, b""
    for im in images:
        raw = np.flipud(np.asarray(im["counts"], dtype="<i2")).tobytes()  # bottom row first
        tag = "@3" if im.get("interleave") else "@2"
        head += ["\\*Ciao image list", f"\\Data offset: {offset + len(data)}", f"\\Data length: {len(raw)}",
                 "\\Bytes/pixel: 2", f"\\Samps/line: {nx}", f"\\Number of lines: {ny}", f"\\Scan Size: {size}",
                 f"\\Aspect Ratio: {nx / ny:g}:1",
                 f"\\Line Direction: {im['direction']}",
                 f"\\{tag}:Image Data: S [{im['name'].replace(' ', '')}] \"{im['name']}\"",
                 f"\\{tag}:Z scale: V [{im['sens']}] ({im['volts_per_lsb']:.10g} V/LSB) {im['volts_per_lsb'] * 65536:.6f} V",
                 f"\\{tag}:Z offset: V [{im['sens']}] ({im['volts_per_lsb']:.10g} V/LSB) 0 V"]
        data += raw
    text = ("\r\n".join(head + ["\\*File list end"]) + "\r\n").encode("latin-1")
    assert len(text) < offset
    with open(path, "wb") as f:
        f.write(text + b"\x1a" * (offset - len(text)) + data)
