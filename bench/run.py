"""Run every benchmark of bench/ and gather their results (``make bench``).

Each figure is its own script (``bench_*.py``), runnable alone; this runs them one
after the other, prints each one's table, and writes them all with the machine's
description to bench/results/latest.json. ``--quick`` only checks that every
benchmark still runs. Every load goes to 127.0.0.1 and is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["bench_resolve", "bench_request", "bench_readmail", "bench_inbound", "bench_outbound"]


def machine() -> dict:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of every benchmark")
    parser.add_argument("only", nargs="*", help="run only these scripts (e.g. bench_resolve)")
    options = parser.parse_args()
    results = {"machine": machine(), "quick": options.quick, "benchmarks": {}}
    failed = []
    for name in options.only or SCRIPTS:
        print(f"\n== {name}{' (quick)' if options.quick else ''}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            args = [sys.executable, str(BENCH / f"{name}.py"), "--json", out.name]
            started = time.monotonic()
            proc = subprocess.run([*args, *(["--quick"] if options.quick else [])], check=False)
            seconds = round(time.monotonic() - started, 1)
            if proc.returncode != 0:
                failed.append(name)
                continue
            data = Path(out.name).read_text() or "null"
            results["benchmarks"][name] = {"seconds": seconds, "results": json.loads(data)}
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nMachine: {results['machine']}")
    print(f"Results: {BENCH / 'results' / 'latest.json'}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
