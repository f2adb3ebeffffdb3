"""The real servers the end-to-end tests use, and the rule for when they are missing.

A missing server skips its tests with the reason, except in CI (env ``CI`` set),
where every test must run: there it fails them.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAILSERVER_SHARED_DIR") or ROOT.parent / "shared")
POSTFIX_HARNESS = SHARED / "mta" / "postfix-harness.sh"


def require(reason: str | None) -> None:
    """Skip with ``reason``, or fail in CI, where every server must be there."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this test.")
    pytest.skip(reason)


def postfix_missing() -> str | None:
    """Why the private Postfix of ../shared/mta cannot run here, or ``None``."""
    if os.geteuid() != 0:
        return "the Postfix harness needs root (pipe(8) runs commands as another user)"
    for program in ("postfix", "swaks"):
        if shutil.which(program) is None and not Path("/usr/sbin", program).exists():
            return f"{program} is not installed (run {POSTFIX_HARNESS} install)"
    if not POSTFIX_HARNESS.exists():
        return f"the Postfix harness is missing: {POSTFIX_HARNESS} (set MAILSERVER_SHARED_DIR)"
    return None


def postfix_harness(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``postfix-harness.sh ARGS``; the caller checks the return code."""
    return subprocess.run(
        ["bash", str(POSTFIX_HARNESS), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
