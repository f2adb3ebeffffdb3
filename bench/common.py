"""What every benchmark shares: repeated runs, same-run ratios, one table, one JSON.

Our machines are shared and drift by up to ±30 % between runs, so a figure is the
median of several runs with its min and max, and a comparison is measured pair by pair
in the same run: each run times ours and the baseline back to back (alternating
which goes first) and the ratio is taken per pair, before the median.

A script builds a :class:`Report`, adds :class:`Figure` rows to it, and hands it to
:func:`finish`, which prints the table and writes the JSON that ``bench/run.py`` gathers.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import statistics
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_OPERATORS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Spread:
    """The median of several runs, with their min and max."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        values = list(values)
        return cls(statistics.median(values), min(values), max(values), len(values))

    def __str__(self) -> str:
        if self.runs == 1:
            return _number(self.median)
        return f"{_number(self.median)} ({_number(self.low)} to {_number(self.high)})"


@dataclass
class Figure:
    """One row of the table.

    ``target`` is either ``">= 0.5"`` / ``"<= 1.5"``, checked against the median
    ratio (or against ``ours`` when there is no baseline), or free text with ``met``
    given by the script.
    """

    name: str
    unit: str
    ours: Spread
    baseline: Spread | None = None
    baseline_name: str = ""
    ratio: Spread | None = None
    target: str = ""
    met: bool | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        op, _, value = self.target.partition(" ")
        if self.met is None and op in TARGET_OPERATORS:
            measured = self.ratio.median if self.ratio else self.ours.median
            self.met = TARGET_OPERATORS[op](measured, float(value))


def repeat(measure: Callable[[], float], runs: int) -> Spread:
    """Run ``measure`` ``runs`` times and summarise what it returns."""
    return Spread.of(measure() for _ in range(runs))


def compare(
    ours: Callable[[], float], baseline: Callable[[], float], runs: int
) -> tuple[Spread, Spread, Spread]:
    """Measure ours and the baseline pair by pair; return both and their ratio.

    The order alternates from one pair to the next, so a drift of the machine
    during the run favours neither.
    """
    pairs = []
    for run in range(runs):
        if run % 2:
            theirs = baseline()
            mine = ours()
        else:
            mine = ours()
            theirs = baseline()
        pairs.append((mine, theirs))
    return (
        Spread.of(mine for mine, _ in pairs),
        Spread.of(theirs for _, theirs in pairs),
        Spread.of(mine / theirs for mine, theirs in pairs),
    )


def compared(
    name: str,
    unit: str,
    ours: Callable[[], float],
    baseline: Callable[[], float],
    runs: int,
    baseline_name: str,
    target: str = "",
) -> Figure:
    """A :class:`Figure` for ours against a baseline, measured by :func:`compare`."""
    mine, theirs, ratio = compare(ours, baseline, runs)
    return Figure(name, unit, mine, theirs, baseline_name, ratio, target)


#: The PostgreSQL server of the benchmarks: loopback, trust authentication.
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def postgres_settings(name: str) -> dict:
    """The ``DATABASES`` entry for database ``name`` on :data:`POSTGRES`."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "HOST": POSTGRES["host"],
        "PORT": POSTGRES["port"],
        "USER": POSTGRES["user"],
    }


@contextmanager
def throwaway_database(admin, prefix: str, template: str | None = None) -> Iterator[str]:
    """Create a database (a copy of ``template``, if given) and drop it WITH (FORCE) after.

    ``admin`` is an autocommit psycopg connection to the ``postgres`` database.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine() -> dict:
    """The machine and the versions a result was measured with."""
    import django

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        models = [line for line in lines if line.startswith("model name")]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
    }


class Report:
    """The figures of one benchmark script."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.figures: list[Figure] = []
        self.notes: list[str] = []

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: {figure.ours} {figure.unit}", file=sys.stderr, flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self) -> str:
        header = ("figure", "unit", "ours", "baseline", "ratio", "target", "met")
        rows = [header] + [
            (
                figure.name,
                figure.unit,
                str(figure.ours),
                f"{figure.baseline} {figure.baseline_name}".strip() if figure.baseline else "",
                f"{figure.ratio} x" if figure.ratio else "",
                figure.target,
                {True: "yes", False: "NO", None: ""}[figure.met],
            )
            for figure in self.figures
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join([self.title, *lines, *self.notes])

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "machine": machine(),
            "figures": [asdict(figure) for figure in self.figures],
            "notes": self.notes,
        }


def arguments(description: str, runs: int, quick_runs: int = 3) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick``, ``--runs`` and ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and few runs")
    parser.add_argument("--runs", type=int, help=f"runs per figure (default {runs})")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    options, _ = parser.parse_known_args()
    if options.runs is None:
        options.runs = quick_runs if options.quick else runs
    return options


def finish(report: Report, options: argparse.Namespace) -> None:
    """Print the report's table and write its JSON if asked."""
    print(report.table(), flush=True)
    if options.json:
        Path(options.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
