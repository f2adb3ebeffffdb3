"""``readmail`` start-up: wall time and peak RSS of one small message, next to
``manage.py check`` of the same project (the example project), measured in the same run.

Run it from the repository root::

    python bench/bench_readmail.py            # 15 pairs
    python bench/bench_readmail.py --quick    # 3 pairs
    python bench/bench_readmail.py --json results.json

Each command runs in a fresh process, as an MTA's pipe(8) runs it, so the time is
mostly Python's and Django's start-up: ``check`` is what any management command of
the project pays at least. The runs go pair by pair (``common.compare``), alternating
which goes first, so machine noise hits both alike; the target is the issue's,
readmail at most 1.5 times ``check``. The peak RSS is each process's own (``wait4``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from operator import truediv
from pathlib import Path

import common
from common import Figure, Report, Spread, compared

EXAMPLE = common.ROOT / "manage_example"
MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: help@example.com\r\nSubject: bench\r\n"
    b"Message-ID: <%d@bench.example.org>\r\n\r\nHello.\r\n"
)
READMAIL = ["readmail", "--sender", "alice@example.org", "--recipient", "help@example.com"]


class Command:
    """``manage.py`` with ``args`` in a fresh process, one run for ``common.compare``.

    Each call returns the wall milliseconds and keeps the process's peak RSS in MiB.
    ``message``, if given, is fed to stdin with a number, so that every message has a
    Message-ID of its own.
    """

    def __init__(self, project: Path, args: list[str], message: bytes = b"") -> None:
        self.argv = [sys.executable, str(project / "manage.py"), *args]
        self.env = {
            **os.environ,
            "PYTHONPATH": str(project),
            "DJANGO_SETTINGS_MODULE": "example.settings",
        }
        self.message = message
        self.numbers = itertools.count()
        self.rss_mib: list[float] = []

    def __call__(self) -> float:
        stdin = self.message % next(self.numbers) if self.message else b""
        started = time.perf_counter()
        proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc.stdin.write(stdin)
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)  # wait4, unlike wait, reports this child's RSS
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{' '.join(self.argv[1:])} exited {code}")
        self.rss_mib.append(usage.ru_maxrss / 1024)
        return elapsed * 1000


@contextmanager
def project_copy():
    """The example project in a temporary directory, migrated: readmail stores the message."""
    with tempfile.TemporaryDirectory(prefix="bench-readmail-") as workdir:
        project = Path(workdir) / "project"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("db.sqlite3"))
        Command(project, ["migrate", "-v0"])()
        yield project


def figures(readmail: Command, check: Command, runs: int) -> list[Figure]:
    """readmail against check, pair by pair: the wall time, and the peak RSS of the same runs."""
    readmail(), check()  # untimed: the first runs write the project's .pyc files
    del readmail.rss_mib[:], check.rss_mib[:]
    name = "readmail, one small message"
    time_figure = compared(name, "ms", readmail, check, runs, "manage.py check", "<= 1.5")
    rss = Figure(
        f"{name}: peak RSS",
        "MiB",
        Spread.of(readmail.rss_mib),
        Spread.of(check.rss_mib),
        "manage.py check",
        Spread.of(map(truediv, readmail.rss_mib, check.rss_mib)),
    )
    return [time_figure, rss]


def main() -> None:
    options = common.arguments(__doc__.splitlines()[0], runs=15)
    report = Report("readmail: one message through a fresh process vs manage.py check")
    with project_copy() as project:
        readmail = Command(project, READMAIL, MESSAGE)
        check = Command(project, ["check"])
        for figure in figures(readmail, check, options.runs):
            report.add(figure)
    common.finish(report, options)


if __name__ == "__main__":
    main()
