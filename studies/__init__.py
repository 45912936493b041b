"""One-off studies with their figures, run from the repository root: ``python -m studies.NAME`` (the docs
link to each and give its command)."""
