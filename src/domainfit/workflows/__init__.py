"""The orchestration the CLI and notebooks share: ``estimate``, ``compare``, ``inspect_image``,
``relax_film``. The public names are re-exported by ``domainfit`` itself (``df.estimate``)."""
