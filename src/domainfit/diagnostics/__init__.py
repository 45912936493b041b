"""Diagnostics of posteriors over many cases: simulation-based calibration and interval coverage."""

from .sbc import coverage as coverage, rank_uniformity as rank_uniformity, sbc_rank as sbc_rank
