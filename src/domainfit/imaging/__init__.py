"""The image side of domainfit: images in physical units and the imaging model.

- ``DomainImage``, ``load``, ``save``: real images (PNG/JPEG/TIFF/NumPy, and scanning-probe files:
  Gwyddion, Asylum .ibw, Nanonis .sxm, Nanoscope) with their pixel size [m], contrast normalised to
  [-1, 1]; ``channel_table``: the channels of a scanning-probe file (docs/spm.md).
- ``level_lines``: scan-line levelling (per-line offset or polynomial from line-to-line differences).
- ``render``: a simulated m_z → pixel integration, Gaussian blur, contrast, offset, noise (the
  differentiable imaging model of the likelihood); jit/vmap-able.
- ``Instrument``, ``record``: instrument models (magnetisation, MFM, stray-field probe; Gaussian,
  Lorentzian or Airy point spread; sampling, detector response, background, scan lines, noise,
  quantisation): what a microscope writes to its file.
- ``model_input``: the one preprocessing before the network (background, contrast, pixel size).
- ``area_average``, ``resample``, ``tiles``, ``random_crop``, ``multiscale_crop``, ``dihedral``:
  scale handling by physical pixel size, crops and the 8 rot90/flip symmetries.

Formulas and conventions: docs/imaging.md.
"""

from ._image import DomainImage as DomainImage, MIN_PIXELS as MIN_PIXELS
from ._calibration import PIXEL_SIZE_TOLERANCE as PIXEL_SIZE_TOLERANCE, parse_pixel_size as parse_pixel_size
from ._io import example_path as example_path, from_array as from_array, load as load, save as save
from ._level import LEVELS as LEVELS, level_lines as level_lines
from ._spm import SPM_SUFFIXES as SPM_SUFFIXES, channel_table as channel_table, is_spm_file as is_spm_file
from ._normalise import (
    binarise as binarise,
    flatten_background as flatten_background,
    normalise_contrast as normalise_contrast,
    otsu_threshold as otsu_threshold,
)
from ._instrument import BACKGROUND_TERMS as BACKGROUND_TERMS, Instrument as Instrument, record as record
from ._prepare import FLATTEN_DEGREE as FLATTEN_DEGREE, model_input as model_input
from ._render import render as render
from ._scale import (
    area_average as area_average,
    dihedral as dihedral,
    multiscale_crop as multiscale_crop,
    random_crop as random_crop,
    resample as resample,
    tiles as tiles,
)

__all__ = [
    "BACKGROUND_TERMS",
    "DomainImage",
    "FLATTEN_DEGREE",
    "Instrument",
    "LEVELS",
    "MIN_PIXELS",
    "PIXEL_SIZE_TOLERANCE",
    "SPM_SUFFIXES",
    "area_average",
    "binarise",
    "channel_table",
    "dihedral",
    "example_path",
    "flatten_background",
    "is_spm_file",
    "level_lines",
    "load",
    "model_input",
    "multiscale_crop",
    "normalise_contrast",
    "otsu_threshold",
    "parse_pixel_size",
    "random_crop",
    "record",
    "render",
    "resample",
    "save",
    "tiles",
]
