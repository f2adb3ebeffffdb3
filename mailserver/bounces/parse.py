"""Classify a received message as a bounce, a complaint, an auto-reply, or none."""

import email
import logging
from email.message import Message
from email.policy import compat32

from . import arf, autoreply, dsn, heuristics
from .report import BounceReport

logger = logging.getLogger("mailserver.bounces")

# What a report says sits at its start; a returned 50 MB attachment does
# not need reading, and capping the input bounds the time spent on it.
MAX_BYTES = 1024 * 1024


def parse_bounce(raw_bytes: bytes) -> BounceReport | None:
    """Return what a bounce, complaint or auto-reply reports, else None.

    Never raises: a message that cannot be read is not a bounce.
    """
    try:
        msg = email.message_from_bytes(bytes(raw_bytes[:MAX_BYTES]), policy=compat32)
    except RecursionError:
        # Thousands of nested multiparts: hostile, not a bounce.
        logger.warning("Message nested too deeply to parse as a bounce.")
        return None
    try:
        return classify(msg)
    except Exception:
        # A bug here must not turn into a failed delivery of the bounce (which
        # would bounce again); log it loudly and treat the message as unread.
        logger.exception("Could not classify a message as a bounce.")
        return None


def classify(msg: Message) -> BounceReport | None:
    """Send the message to the one reader its structure asks for.

    Standard reports are read by their own parser and nothing else: a DSN
    that reports only successful deliveries is not rescued by guesswork.
    Auto-replies come last because bounces are marked auto-replied too.
    """
    if dsn.applies(msg):
        return dsn.parse(msg)
    if arf.applies(msg):
        return arf.parse(msg)
    if heuristics.applies(msg):
        return heuristics.parse(msg)
    return autoreply.parse(msg)
