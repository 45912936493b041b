"""Image → numbers: summary statistics in physical units, domain geometry and wall presence, and the
summary of a relaxed state."""

from .walls import shows_walls as shows_walls
