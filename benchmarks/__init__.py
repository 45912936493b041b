"""Speed and accuracy benchmarks against peers, run from the repository root: ``python -m benchmarks.NAME``
(figures in docs/performance.md)."""
