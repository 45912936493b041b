"""Reproducible builders of what the project ships (``tools/assets``) and machine rounds (``gpu_round.sh``)."""
