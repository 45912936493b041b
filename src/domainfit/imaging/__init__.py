"""The image side of domainfit: images in physical units and the imaging model.

- ``DomainImage``, ``load``, ``save``: real images (PNG/JPEG/TIFF/NumPy) with their pixel size [m],
  contrast normalised to [-1, 1].
- ``render``: a simulated m_z → the image a microscope would record (pixel integration, Gaussian
  point-spread blur, contrast, offset, noise); differentiable, jit/vmap-able.
- ``area_average``, ``resample``, ``tiles``, ``random_crop``, ``multiscale_crop``, ``dihedral``:
  scale handling by physical pixel size, crops and the 8 rot90/flip symmetries.

Formulas and conventions: docs/imaging.md.
"""

from ._image import DomainImage as DomainImage, MIN_PIXELS as MIN_PIXELS
from ._io import example_path as example_path, load as load, parse_pixel_size as parse_pixel_size, save as save
from ._normalise import (
    binarise as binarise,
    flatten_background as flatten_background,
    normalise_contrast as normalise_contrast,
)
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
    "DomainImage",
    "MIN_PIXELS",
    "area_average",
    "binarise",
    "dihedral",
    "example_path",
    "flatten_background",
    "load",
    "multiscale_crop",
    "normalise_contrast",
    "parse_pixel_size",
    "random_crop",
    "render",
    "resample",
    "save",
    "tiles",
]
