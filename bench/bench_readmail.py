"""``readmail`` start-up: wall time and peak RSS of one small message, next to
``manage.py check`` of the same project (the example project), measured in the same run.

Each command runs in a fresh process, as an MTA's pipe(8) runs it; runs alternate
between the two so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "manage_example"
MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: help@example.com\r\nSubject: bench\r\n"
    b"Message-ID: <%d@bench.example.org>\r\n\r\nHello.\r\n"
)


def run(args: list[str], env: dict, stdin: bytes = b"") -> tuple[float, int]:
    """Run one command; return its wall seconds and its own peak RSS in KiB."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.stdin.write(stdin)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)  # wait4, unlike wait, reports this child's RSS
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 runs each instead of 15")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    options = parser.parse_args()
    runs = 3 if options.quick else 15

    workdir = Path(tempfile.mkdtemp(prefix="bench-readmail-"))
    shutil.copytree(EXAMPLE, workdir / "project", ignore=shutil.ignore_patterns("db.sqlite3"))
    project = workdir / "project"
    env = {**os.environ, "PYTHONPATH": str(project), "DJANGO_SETTINGS_MODULE": "example.settings"}
    manage = str(project / "manage.py")
    subprocess.run([sys.executable, manage, "migrate", "-v0"], env=env, check=True)
    check, readmail = [], []
    try:
        for n in range(runs):
            check.append(run([manage, "check"], env))
            readmail.append(
                run(
                    [
                        manage,
                        "readmail",
                        "--sender",
                        "alice@example.org",
                        "--recipient",
                        "help@example.com",
                    ],
                    env,
                    MESSAGE % n,
                )
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def summary(samples):
        times = [t * 1000 for t, _ in samples]
        return {
            "median_ms": round(statistics.median(times), 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            "peak_rss_mib": round(max(r for _, r in samples) / 1024, 1),
        }

    ratios = [r[0] / c[0] for r, c in zip(readmail, check, strict=True)]
    result = {
        "benchmark": "readmail",
        "runs": runs,
        "check": summary(check),
        "readmail": summary(readmail),
        "ratio_median": round(statistics.median(ratios), 2),
        "target": "readmail <= 1.5x manage.py check",
    }
    print(f"{'':24}{'median ms':>10}{'min':>8}{'max':>8}{'peak RSS MiB':>14}")
    for name in ("check", "readmail"):
        row = result[name]
        print(
            f"{'manage.py ' + name:24}{row['median_ms']:>10}{row['min_ms']:>8}"
            f"{row['max_ms']:>8}{row['peak_rss_mib']:>14}"
        )
    print(f"readmail / check, pair by pair, median: {result['ratio_median']}x (target <= 1.5x)")
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
