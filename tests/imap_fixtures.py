"""A private Dovecot (IMAP, POP3, TLS) for the fetchmail tests: ../shared/imap/.

One instance per session (stopping one takes ~2.5 s); each test gets its own
user, so its mailbox starts empty. Without Dovecot the tests skip, except in
CI (env CI set), where they fail: CI installs it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import require

HARNESS = (
    Path(os.environ.get("MAILSERVER_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
    / "imap"
    / "dovecot-harness.sh"
)
DOVECOT_BINARIES = ("/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3")


def harness(*args: str, input: bytes | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(
        ["bash", str(HARNESS), *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"dovecot-harness.sh {' '.join(args)} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode()


@dataclass
class Dovecot:
    """A running harness instance; ``env`` holds its KEY=VALUE lines."""

    directory: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.env["HARNESS_HOST"]

    def port(self, scheme: str) -> int:
        return int(self.env[f"HARNESS_{scheme.upper()}_PORT"])

    @property
    def cert(self) -> str:
        return self.env["HARNESS_TLS_CERT"]

    def add_user(self) -> tuple[str, str]:
        name, password = f"t{uuid.uuid4().hex[:10]}", f"pw {uuid.uuid4().hex[:6]}"
        harness("add-user", self.directory, f"{name}:{password}")
        return name, password

    def deliver(self, user: str, raw: bytes, *, folder: str = "", flags: str = "") -> str:
        args = ["deliver", self.directory, user, "-"]
        args += ["--folder", folder] if folder else []
        args += ["--flags", flags] if flags else []
        return harness(*args, input=raw).strip()

    def count(self, user: str, folder: str = "") -> int:
        args = ["--folder", folder] if folder else []
        return int(harness("count", self.directory, user, *args).strip())

    def messages(self, user: str, folder: str = "") -> list[str]:
        args = ["--folder", folder] if folder else []
        return harness("messages", self.directory, user, *args).split()

    def kick(self, user: str) -> None:
        harness("kick", self.directory, user)

    def restart(self) -> None:
        harness("restart", self.directory)

    def log(self) -> str:
        return Path(self.env["HARNESS_LOG"]).read_text(errors="replace")


@dataclass
class MailUser:
    """A fresh user of the session's Dovecot, with helpers bound to it."""

    dovecot: Dovecot
    name: str
    password: str

    def url(self, scheme: str = "imap", folder: str = "") -> str:
        path = f"/{folder}" if folder else ""
        return f"{scheme}://{self.dovecot.host}:{self.dovecot.port(scheme)}{path}"

    def mailbox(self, scheme: str = "imap", **options) -> dict:
        """A ``MAILSERVER_MAILBOXES`` entry for this user."""
        return {"URL": self.url(scheme), "USER": self.name, "PASSWORD": self.password, **options}

    def deliver(self, raw: bytes, **kwargs) -> str:
        return self.dovecot.deliver(self.name, raw, **kwargs)

    def count(self, folder: str = "") -> int:
        return self.dovecot.count(self.name, folder)

    def flags(self, folder: str = "") -> list[str]:
        """The Maildir flags of each message (``"S"`` for seen, ``"T"`` for trashed)."""
        return [path.rpartition(":2,")[2] for path in self.dovecot.messages(self.name, folder)]


@pytest.fixture(scope="session")
def dovecot():
    missing = [path for path in DOVECOT_BINARIES if not os.path.exists(path)]
    if missing or not HARNESS.exists():
        reason = (
            f"Dovecot is not installed ({', '.join(missing)} missing): run "
            f"'bash {HARNESS} install'."
            if missing
            else f"The Dovecot harness is missing: {HARNESS}."
        )
        require(reason)
    # Not tmp_path: Dovecot's users must reach it, and socket paths must stay short.
    directory = tempfile.mkdtemp(prefix="dvh-", dir="/tmp")
    os.rmdir(directory)  # the harness creates it and marks it as its own
    try:
        output = harness("start", directory, "--user", "fetch:pw1", "--tls")
        env = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        yield Dovecot(directory, env)
    finally:
        harness("cleanup", directory)


@pytest.fixture
def mail_user(dovecot) -> MailUser:
    return MailUser(dovecot, *dovecot.add_user())
