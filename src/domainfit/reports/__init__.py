"""What a person reads: posterior summaries and files (JSON, NetCDF) and figures."""

from .posterior import save_json as save_json, save_netcdf as save_netcdf, summarize as summarize
from .files import write_posterior_files as write_posterior_files
