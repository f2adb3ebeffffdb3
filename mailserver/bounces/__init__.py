"""Bounce, complaint and auto-reply classification.

Import-light on purpose: no models, so parsing works in ``readmail`` and
outside a configured project.
"""

from .parse import parse_bounce
from .report import BouncedRecipient, BounceReport

__all__ = ["BounceReport", "BouncedRecipient", "parse_bounce"]
