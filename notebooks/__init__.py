"""Notebooks as jupytext percent scripts; a package only so that the tests can import them."""
