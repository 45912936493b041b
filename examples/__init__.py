"""Example scripts (``python examples/NAME.py``); a package only so that the tests can import them."""
