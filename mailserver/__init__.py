"""Handle email in Django the way Django handles HTTP."""

__version__ = "0.1.0"
