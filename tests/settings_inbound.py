"""Test settings with the inbound mailconf, for subprocesses (runmailserver, readmail)."""

from tests.settings import *  # noqa: F403

ROOT_MAILCONF = "tests.mailconfs.inbound"
