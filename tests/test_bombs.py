"""Recursion and size bombs are refused, or read within bounded memory and time.

Each bomb runs in its own subprocess (this file, run as a script), so the peak
resident memory it reports (``ru_maxrss``) belongs to that bomb alone. The child
builds the bomb, notes its peak memory so far, then passes the bytes through the
whole inbound pipeline (store, middleware, view), every ``EmailRequest`` attribute
and ``parse_bounce``; the test asserts on the growth and the time.
"""

import base64
import io
import json
import resource
import subprocess
import sys
import time
import zipfile

import pytest

from tests.hardening_fixtures import command_env, migrate

MB = 1024 * 1024

HEAD = b"From: bomber@example.org\r\nTo: accept@example.com\r\nSubject: bomb\r\n"


def nested_multiparts(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return HEAD + opening + b"Content-Type: text/plain\r\n\r\ncore\r\n" + closing


def nested_messages(depth: int) -> bytes:
    return (
        HEAD + b"Content-Type: message/rfc822\r\n\r\n" * depth + b"Subject: core\r\n\r\ncore\r\n"
    )


def sibling_parts(count: int) -> bytes:
    parts = b"".join(
        b"--s\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count)
    )
    return HEAD + b'Content-Type: multipart/mixed; boundary="s"\r\n\r\n' + parts + b"--s--\r\n"


def header_block(size: int) -> bytes:
    line = b"X-Pad: " + b"a" * 990 + b"\r\n"
    return HEAD + line * (size // len(line)) + b"\r\nbody\r\n"


def one_huge_header(size: int) -> bytes:
    """One folded header of ``size`` bytes: a single value to unfold and decode."""
    return HEAD + b"X-Huge: " + b"=?utf-8?q?a?=\r\n " * (size // 16) + b"\r\n\r\nbody\r\n"


def zip_of_zeros(size: int) -> bytes:
    """A zip whose one file inflates to ``size`` zero bytes (it is ~1000x smaller)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as file,
    ):
        chunk = bytes(MB)
        for _ in range(size // MB):
            file.write(chunk)
    encoded = base64.encodebytes(buffer.getvalue())
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="z"\r\n\r\n--z\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attachment\r\n--z\r\n"
        b'Content-Type: application/zip\r\nContent-Disposition: attachment; filename="z.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--z--\r\n"
    )


BOMBS = {
    "10,000 nested multiparts": lambda: nested_multiparts(10_000),
    "10,000 nested message/rfc822": lambda: nested_messages(10_000),
    "50,000 sibling parts": lambda: sibling_parts(50_000),
    "50 MB header block": lambda: header_block(50 * MB),
    "24 MB header block (under the size limit)": lambda: header_block(24 * MB),
    "one 8 MB folded header of encoded words": lambda: one_huge_header(8 * MB),
    "zip of 1 GB of zeros": lambda: zip_of_zeros(1024 * MB),
}

#: (extra peak memory in MB, seconds) each bomb may cost at most: about ten times the
#: input in memory, and a few seconds (measured: well under half of each).
BOUNDS = {
    "10,000 nested multiparts": (100, 10),
    "10,000 nested message/rfc822": (100, 10),
    "50,000 sibling parts": (100, 10),
    "50 MB header block": (10, 2),  # refused by size: nothing is parsed or stored
    "24 MB header block (under the size limit)": (350, 20),
    "one 8 MB folded header of encoded words": (250, 20),
    "zip of 1 GB of zeros": (50, 5),
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def explode(name: str) -> dict:
    """Run in the child: feed one bomb through everything that reads mail."""
    import django

    django.setup()
    from mailserver.bounces import parse_bounce
    from mailserver.request import EmailRequest
    from mailserver.test import MailClient

    raw = BOMBS[name]()
    before = peak_mb()
    started = time.monotonic()
    [result] = MailClient().send_raw(
        raw, sender="bomber@example.org", recipients=["accept@example.com"]
    )
    outcome = {"size": len(raw), "smtp_code": result.smtp_code, "seen": {}}
    if result.smtp_code == 250:
        # What a view may then read: every attribute, and the bounce parser.
        request = EmailRequest(raw, envelope_from="bomber@example.org")
        outcome["seen"] = {
            "subject": len(request.subject),
            "headers": len(request.headers),
            "text": len(request.text),
            "attachments": [a.size for a in request.attachments][:5],
            "is_bounce": request.is_bounce,
            "bounce": parse_bounce(raw) is not None,
        }
    outcome["growth_mb"] = round(peak_mb() - before, 1)
    outcome["seconds"] = round(time.monotonic() - started, 2)
    return outcome


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return migrate(command_env(tmp_path_factory.mktemp("bombs") / "db.sqlite3"))


@pytest.fixture(scope="module")
def explode_in_child(env):
    """Run ``explode(name)`` in a fresh interpreter, once per bomb; return its outcome."""
    outcomes = {}

    def run(name: str) -> dict:
        if name not in outcomes:
            proc = subprocess.run(
                [sys.executable, __file__, name],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            outcomes[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        return outcomes[name]

    return run


@pytest.mark.parametrize("name", BOMBS)
def test_bomb_is_refused_or_read_within_bounds(explode_in_child, name):
    outcome = explode_in_child(name)
    memory, seconds = BOUNDS[name]
    assert outcome["smtp_code"] in (250, 552, 554), outcome
    assert outcome["growth_mb"] < memory, outcome
    assert outcome["seconds"] < seconds, outcome


def test_over_size_header_block_is_refused_before_parsing(explode_in_child):
    outcome = explode_in_child("50 MB header block")
    assert outcome["smtp_code"] == 552  # MAILSERVER_MAX_MESSAGE_SIZE: 25 MiB


def test_zip_of_zeros_is_kept_compressed(explode_in_child):
    """Attachments are handed over as sent: nothing inflates an archive."""
    outcome = explode_in_child("zip of 1 GB of zeros")
    [size] = outcome["seen"]["attachments"]
    assert size < 5 * MB


@pytest.mark.parametrize(("parts", "parsed"), [(999, True), (1001, False)])
def test_mime_parts_past_the_limit_are_not_parsed(parts, parsed):
    """MAILSERVER_MAX_MIME_PARTS (1000): past it, the body is raw text, not a tree."""
    from mailserver.request import EmailRequest

    request = EmailRequest(sibling_parts(parts))
    assert (request.message is not None) == parsed
    assert ("part 998" in request.text) and (("--s" in request.text) != parsed)


def test_nested_messages_count_as_parts():
    from mailserver.mime.body import count_parts

    assert count_parts(nested_messages(50)) == 50
    assert count_parts(nested_multiparts(50)) == 100  # an opening and a closing line each


if __name__ == "__main__":
    print(json.dumps(explode(sys.argv[1])))
