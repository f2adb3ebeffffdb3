"""Benchmark EmailRequest against Python's email parser on 2 KB, 1 MB and 10 MB mail.

Measures, for a fresh request each time, the wall time and the peak traced memory
(tracemalloc) of reading ``subject``, ``from_email`` and ``text``, and compares them
with ``BytesParser(policy=email.policy.default)`` doing the same. Header access
should cost the same whatever the message size; the body is parsed once, by flanker.

    python bench/bench_request.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from email import policy
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings

from mailserver.request import EmailRequest

if not settings.configured:
    settings.configure()  # the defaults are enough: no database, no mailconf

SIZES = {"2 KB": 2 * 1024, "1 MB": 1024 * 1024, "10 MB": 10 * 1024 * 1024}


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
    request = EmailRequest(raw)
    return request.subject, request.from_email


def ours_text(raw: bytes) -> object:
    request = EmailRequest(raw)
    return request.subject, request.from_email, request.text


def stdlib_headers(raw: bytes) -> object:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    return str(message["Subject"]), message["From"].addresses[0].addr_spec


def stdlib_text(raw: bytes) -> object:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    body = message.get_body(("plain",))
    return str(message["Subject"]), message["From"].addresses[0].addr_spec, body.get_content()


CASES = {
    "subject+from (ours)": ours_headers,
    "subject+from (email)": stdlib_headers,
    "subject+from+text (ours)": ours_text,
    "subject+from+text (email)": stdlib_text,
}


def measure(function, raw: bytes, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(raw)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    function(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ms": statistics.median(times) * 1000, "peak_mib": peak / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore", DeprecationWarning)  # flanker's cgi/imghdr imports
    start = time.perf_counter()
    import flanker.mime  # noqa: F401  (import once, outside the timings)

    results: dict = {"flanker_import_ms": (time.perf_counter() - start) * 1000, "sizes": {}}
    print(f"flanker import: {results['flanker_import_ms']:.0f} ms (paid on first body access)")
    print(f"{'message':>8}  {'case':<27} {'median ms':>10} {'peak MiB':>9}")
    for label, size in SIZES.items():
        raw = make_message(size)
        repeat = {"2 KB": 200, "1 MB": 20, "10 MB": 5}[label]
        if args.quick:
            repeat = max(repeat // 10, 2)
        row = results["sizes"][label] = {"bytes": len(raw)}
        for name, function in CASES.items():
            row[name] = result = measure(function, raw, repeat)
            print(f"{label:>8}  {name:<27} {result['ms']:>10.3f} {result['peak_mib']:>9.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
