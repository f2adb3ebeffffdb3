"""Run every benchmark of bench/ and gather their results (``make bench``).

Each benchmark is its own script (``bench_*.py``), runnable alone; this runs them one
after the other, each writing its report as JSON (``--json``), and writes them all with
the machine's description to bench/results/latest.json. At the end it prints one table
of every figure of every script. ``--quick`` passes ``--quick`` on: a smoke run that
checks every benchmark still runs. Every load goes to 127.0.0.1 and is bounded.

The exit status is 1 if a script failed (or wrote no report); a target not met is in
the table, not a failure: a shared machine misses targets that a quiet one meets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from common import Spread

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "latest.json"
SCRIPTS = [
    "bench_resolve",
    "bench_request",
    "bench_readmail",
    "bench_inbound",
    "bench_outbound",
    "bench_ratelimit",
    "bench_queue_memory",
]
COLUMNS = ("script", "figure", "unit", "ours", "baseline", "ratio", "target", "met")


def run_script(name: str, quick: bool) -> dict | None:
    """Run one script, its output going straight to ours; return its report, or None."""
    print(f"\n== {name}{' (quick)' if quick else ''}", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [sys.executable, str(BENCH / f"{name}.py"), "--json", out.name]
        started = time.monotonic()
        proc = subprocess.run([*args, *(["--quick"] if quick else [])], check=False)
        seconds = round(time.monotonic() - started, 1)
        text = Path(out.name).read_text()
    print(f"({name}: {seconds} s)", flush=True)
    if proc.returncode != 0 or not text:
        return None
    return {"seconds": seconds, "results": json.loads(text)}


def rows(name: str, report: dict) -> list[tuple[str, ...]]:
    """One row of the combined table per figure of ``report`` (the JSON of a Report)."""
    return [
        (
            name,
            figure["name"],
            figure["unit"],
            _spread(figure["ours"]),
            f"{_spread(figure['baseline'])} {figure['baseline_name']}".strip(),
            f"{_spread(figure['ratio'])} x" if figure["ratio"] else "",
            figure["target"],
            {True: "yes", False: "NO", None: ""}[figure["met"]],
        )
        for figure in report["figures"]
    ]


def _spread(data: dict | None) -> str:
    return str(Spread(**data)) if data else ""


def table(lines: list[tuple[str, ...]]) -> str:
    """``lines`` in aligned columns, under :data:`COLUMNS` and a rule."""
    widths = [max(map(len, column)) for column in zip(COLUMNS, *lines, strict=True)]
    lines = [COLUMNS, tuple("-" * width for width in widths), *lines]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of every benchmark")
    parser.add_argument("only", nargs="*", help="run only these scripts (e.g. bench_resolve)")
    options = parser.parse_args()
    unknown = sorted(set(options.only) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {SCRIPTS}")
    started = time.monotonic()
    results = {"machine": common.machine(), "quick": options.quick, "benchmarks": {}}
    failed = []
    for name in options.only or SCRIPTS:
        result = run_script(name, options.quick)
        if result is None:
            failed.append(name)
        else:
            results["benchmarks"][name] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    everything = [
        row
        for name, result in results["benchmarks"].items()
        for row in rows(name, result["results"])
    ]
    print(f"\n== All figures{' (quick)' if options.quick else ''}\n{table(everything)}")
    print(f"\nMachine: {results['machine']}")
    print(f"Results: {RESULTS} ({time.monotonic() - started:.0f} s in all)")
    missed = sum(row[-1] == "NO" for row in everything)
    if missed:
        print(f"Targets not met: {missed} (see the table)")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
