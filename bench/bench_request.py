"""EmailRequest against Python's email parser on 2 KB, 1 MB and 10 MB mail.

Run it from the repository root::

    python bench/bench_request.py            # full run
    python bench/bench_request.py --quick    # a smoke run: fewer runs
    python bench/bench_request.py --json results.json

Measures, for a fresh request each time, the wall time and the peak traced memory
(tracemalloc) of reading ``subject`` and ``from_email``, then those and ``text``, and
compares them with ``BytesParser(policy=email.policy.default)`` doing the same. Header
access should cost the same whatever the message size; the body is parsed once, by
flanker. Times are measured pair by pair (``common.compare``); memory once per side,
since the same bytes allocate the same, and without the timings, which tracemalloc
would slow down. The message's own bytes exist before the tracing starts and are not
counted: the peak is what reading the attributes adds.

The issue's targets are figures of their own, on the 10 MB message:

* lazy: touching ``.subject`` parses no body, so ``subject`` + ``from_email`` peak
  under 1 MiB and take under 1 % of the email parser's time;
* reading ``text`` as well peaks at most 3 times the message's size.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import time
import tracemalloc
import warnings
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from functools import partial

import common
from common import Figure, Report, Spread, compared

KIB = 1024
MIB = 1024 * KIB
SIZES = {"2 KB": 2 * KIB, "1 MB": MIB, "10 MB": 10 * MIB}
TARGET_SIZE = "10 MB"
#: The shortest timed run, in seconds: small messages are read many times per run.
SHORTEST_RUN = 0.05
#: The lazy target: what reading headers of the largest message may allocate and take.
LAZY_PEAK = MIB
LAZY_TIME_SHARE = 0.01
#: The memory target: the peak of reading the text, in message sizes.
MAX_FOOTPRINT = 3


def make_message(size: int) -> bytes:
    """A multipart/alternative text + HTML message padded to ``size`` with a PDF."""
    text = "Hello,\r\n\r\nthe quarterly report is attached.\r\n\r\nJane\r\n"
    head = (
        "From: Jane Doe <jane@example.com>\r\n"
        "To: reports@example.org\r\n"
        "Subject: =?utf-8?q?Quarterly_report_=E2=80=94_Q3?=\r\n"
        "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
        "Message-ID: <bench@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="mixed"\r\n\r\n'
        "--mixed\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "--alt\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + text + "</p>\r\n--alt--\r\n"
    ).encode()
    tail = b"\r\n--mixed--\r\n"
    room = max(size - len(head) - len(tail) - 200, 0)
    payload = base64.encodebytes(os.urandom(room * 3 // 4)).replace(b"\n", b"\r\n")
    attachment = (
        b"--mixed\r\nContent-Type: application/pdf; name=report.pdf\r\n"
        b"Content-Disposition: attachment; filename=report.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload
    )
    return head + attachment + tail


def ours_headers(raw: bytes) -> object:
    from mailserver.request import EmailRequest

    request = EmailRequest(raw)
    return request.subject, request.from_email


def ours_text(raw: bytes) -> object:
    from mailserver.request import EmailRequest

    request = EmailRequest(raw)
    return request.subject, request.from_email, request.text


def stdlib_headers(raw: bytes) -> object:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    return str(message["Subject"]), message["From"].addresses[0].addr_spec


def stdlib_text(raw: bytes) -> object:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    body = message.get_body(("plain",))
    return str(message["Subject"]), message["From"].addresses[0].addr_spec, body.get_content()


#: What is read, by us and by the email parser.
ACCESSES = {
    "subject+from": (ours_headers, stdlib_headers),
    "subject+from+text": (ours_text, stdlib_text),
}


def timing(read: Callable[[bytes], object], raw: bytes) -> Callable[[], float]:
    """One run for ``common.compare``: the mean µs of one ``read(raw)``.

    A first read, untimed, pays for the imports; a run reads as many times as it takes
    to last ``SHORTEST_RUN``.
    """
    read(raw)
    calls = math.ceil(SHORTEST_RUN / _seconds(read, raw))

    def run() -> float:
        return sum(_seconds(read, raw) for _ in range(calls)) / calls * 1e6

    return run


def _seconds(read: Callable[[bytes], object], raw: bytes) -> float:
    started = time.perf_counter()
    read(raw)
    return time.perf_counter() - started


def peak_kib(read: Callable[[bytes], object], raw: bytes) -> float:
    """The peak of the memory that Python allocates during ``read(raw)``, in KiB."""
    tracemalloc.start()
    try:
        read(raw)
        return tracemalloc.get_traced_memory()[1] / KIB
    finally:
        tracemalloc.stop()


def measure(report: Report, label: str, raw: bytes, runs: int) -> dict:
    """Add the time and memory figures of every access to ``raw``; return them by access."""
    figures = {}
    for access, (ours, theirs) in ACCESSES.items():
        name = f"{access}, {label}"
        time_figure = compared(name, "µs", timing(ours, raw), timing(theirs, raw), runs, "email")
        tracing = partial(peak_kib, ours, raw), partial(peak_kib, theirs, raw)
        memory = compared(f"{name}: peak memory", "KiB", *tracing, 1, "email")
        figures[access] = report.add(time_figure), report.add(memory)
    return figures


def lazy(time_figure: Figure, memory: Figure) -> Figure:
    """The lazy target: reading the headers of a large message leaves its body alone."""
    met = memory.ours.median <= LAZY_PEAK / KIB and time_figure.ratio.median <= LAZY_TIME_SHARE
    return Figure(
        f"lazy: subject+from of {TARGET_SIZE} parses no body",
        "KiB",
        memory.ours,
        target=f"peak <= {LAZY_PEAK // KIB:,} KiB, time <= {LAZY_TIME_SHARE:.0%} of email's",
        met=met,
        details={"time_ratio": time_figure.ratio},
    )


def footprint(memory: Figure) -> Figure:
    """The memory target: the peak of reading the text, in sizes of the message."""

    def in_sizes(spread: Spread) -> Spread:
        scale = KIB / SIZES[TARGET_SIZE]
        return Spread(spread.median * scale, spread.low * scale, spread.high * scale, spread.runs)

    return Figure(
        f"text of {TARGET_SIZE}: peak memory in message sizes",
        "x size",
        in_sizes(memory.ours),
        in_sizes(memory.baseline),
        "email",
        target=f"<= {MAX_FOOTPRINT}",
    )


def import_flanker() -> float:
    """Import flanker, quietly; return the milliseconds it took.

    Done once before any timing: a server pays it once, on its first body access.
    """
    warnings.simplefilter("ignore", DeprecationWarning)  # flanker's cgi/imghdr imports
    logging.getLogger("flanker").setLevel(logging.ERROR)  # its grammar's warnings
    started = time.perf_counter()
    import flanker.mime  # noqa: F401

    return (time.perf_counter() - started) * 1000


def main() -> None:
    options = common.arguments(__doc__.splitlines()[0], runs=7)
    from django.conf import settings

    settings.configure()  # the defaults are enough: no database, no mailconf
    report = Report("EmailRequest vs email.parser.BytesParser(policy=default)")
    report.note(f"flanker import: {import_flanker():.0f} ms, paid once, outside the timings")
    measured = {
        label: measure(report, label, make_message(size), options.runs)
        for label, size in SIZES.items()
    }
    headers_time, headers_memory = measured[TARGET_SIZE]["subject+from"]
    report.add(lazy(headers_time, headers_memory))
    report.note(
        f"lazy: subject+from of {TARGET_SIZE} took {headers_time.ratio.median:.3%} "
        "of the email parser's time (median of the pairs)"
    )
    report.add(footprint(measured[TARGET_SIZE]["subject+from+text"][1]))
    common.finish(report, options)


if __name__ == "__main__":
    main()
