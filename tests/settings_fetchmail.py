"""Test settings for ``fetchmail`` subprocesses: mailboxes come from the environment."""

import json
import os

from tests.settings import *  # noqa: F403

ROOT_MAILCONF = "tests.mailconfs.fetch"
MAILSERVER_MAILBOXES = json.loads(os.environ.get("MAILSERVER_TEST_MAILBOXES", "{}"))
