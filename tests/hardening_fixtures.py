"""Helpers for the hardening tests that run the project's commands as subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class CommandEnv(dict):
    """A subprocess environment; its short repr keeps hypothesis's failure reports readable."""

    def __repr__(self) -> str:
        return f"<CommandEnv {self['DJANGO_SETTINGS_MODULE']} {self['MAILSERVER_TEST_DB']}>"


def command_env(db: Path, settings: str = "tests.settings") -> CommandEnv:
    """The environment of ``python -m django ...`` on the SQLite file ``db``."""
    return CommandEnv(
        {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": settings,
            "MAILSERVER_TEST_DB": str(db),
        }
    )


def migrate(env: dict) -> dict:
    """Create the tables in ``env``'s database; return ``env``."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=env, check=True
    )
    return env
