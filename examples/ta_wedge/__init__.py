"""The Ta-wedge example: make_data.py, estimate_series.py, trend.py (docs/examples.md)."""
