"""Property-based tests: hostile and broken mail never crashes the parts that read it.

The strategies are in tests/strategies.py. Example counts are kept small enough for the
whole file to run in well under a minute on two cores; in CI the ``ci`` profile
(tests/conftest.py) derandomizes them so a failure reproduces.
"""

import io
import logging
import subprocess
import sys
from contextlib import contextmanager, redirect_stdout
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailserver.bounces import BounceReport, parse_bounce
from mailserver.exceptions import NoRoute
from mailserver.management.commands.readmail import attach_values
from mailserver.request import EmailRequest
from mailserver.routing import Resolver, resolve
from mailserver.status import EX_DATAERR, EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE
from tests.hardening_fixtures import command_env, migrate
from tests.strategies import addresses, bounce_like_messages, messages

#: DESIGN.md's readmail exit codes, and nothing else.
DOCUMENTED_EXIT_CODES = {EX_OK, EX_DATAERR, EX_NOUSER, EX_UNAVAILABLE, EX_TEMPFAIL}

HEADER_ATTRIBUTES = [
    "subject", "from_email", "from_name", "to", "cc", "reply_to", "header_recipients",
    "message_id", "in_reply_to", "references", "date", "return_path", "is_bounce",
    "is_auto_submitted", "subaddress",
]  # fmt: skip
BODY_ATTRIBUTES = ["message", "text", "html", "attachments"]


class _Records(logging.Handler):
    """Collect log records of one logger (caplog is function-scoped; hypothesis reruns)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def records(name: str):
    handler = _Records()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


# EmailRequest ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=messages(), sender=st.one_of(st.none(), addresses()), recipient=addresses())
def test_email_request_attributes_never_raise(raw, sender, recipient):
    request = EmailRequest(raw, envelope_from=sender, recipients=[recipient])
    for name in HEADER_ATTRIBUTES + BODY_ATTRIBUTES:
        getattr(request, name)
    assert isinstance(request.subject, str)
    assert isinstance(request.text, str)
    assert all(isinstance(a, str) for a in request.to + request.cc)
    for attachment in request.attachments:
        assert attachment.size == len(attachment.content)
    dict(request.headers)
    request.for_recipient(recipient).subject  # noqa: B018
    # Replying renders: every value taken from the message is made header-safe.
    request.reply("Thanks").message().as_bytes()


# Routing -----------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(address=st.one_of(addresses(), st.text(max_size=80)))
@override_settings(ROOT_MAILCONF="tests.mailconfs.routing")
def test_routing_matches_or_raises_no_route(address):
    try:
        match = resolve(address)
    except NoRoute:
        return
    # (Not .func: that imports the view, and DESIGN.md's bounce view is a dotted path.)
    assert "@" in match.address
    assert isinstance(match.kwargs, dict)


@settings(max_examples=100, deadline=None)
@given(address=st.one_of(st.none(), st.integers(), st.binary(max_size=20), addresses()))
def test_resolver_refuses_non_strings_with_no_route(address):
    resolver = Resolver([])
    with pytest.raises(NoRoute):
        resolver.resolve(address)


# parse_bounce ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(messages(), bounce_like_messages()))
def test_parse_bounce_returns_a_report_or_none(raw):
    with records("mailserver.bounces") as logged:
        report = parse_bounce(raw)
    assert report is None or isinstance(report, BounceReport)
    if report is not None:
        assert report.kind in {"bounce", "complaint", "autoreply"}
        assert all(isinstance(r.address, str) for r in report.recipients)
    # It never raises because it catches everything; the property is that the parsers
    # themselves do not fail (the catch-all logs at ERROR when they do).
    assert not [r for r in logged if r.levelno >= logging.ERROR], logged[0].getMessage()


# readmail ----------------------------------------------------------------------------

ENVELOPE_RECIPIENTS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "echo@example.com",
                "accept@example.com",
                "reject@example.com",
                "tempfail@example.com",
                "broken@example.com",
                "nobody@example.com",
            ]
        ),
        addresses(),
    ),
    max_size=3,
)


def readmail_in_process(raw: bytes, args: list[str]) -> tuple[int, str]:
    stdin = io.TextIOWrapper(io.BytesIO(raw))
    stderr = io.StringIO()
    with (
        mock.patch.object(sys, "stdin", stdin),
        redirect_stdout(io.StringIO()),
        pytest.raises(SystemExit) as exited,
    ):
        call_command("readmail", *attach_values(args), stderr=stderr)
    return exited.value.code, stderr.getvalue()


def readmail_args(sender, recipients):
    """The argv Postfix's pipe(8) builds: ``--sender ${sender} --recipient ${recipient}``."""
    args = [] if sender is None else ["--sender", sender]
    for recipient in recipients:
        args += ["--recipient", recipient]
    return args


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=messages(), sender=st.one_of(st.none(), addresses()), recipients=ENVELOPE_RECIPIENTS)
def test_readmail_exits_with_a_documented_code(raw, sender, recipients):
    code, stderr = readmail_in_process(raw, readmail_args(sender, recipients))
    assert code in DOCUMENTED_EXIT_CODES, stderr
    assert "Traceback" not in stderr
    if code != EX_OK:
        # One line starting with the enhanced status code, which pipe(8) puts in its DSN.
        assert stderr[:2] in {"4.", "5."}, stderr


@pytest.fixture(scope="module")
def readmail_env(tmp_path_factory):
    return migrate(command_env(tmp_path_factory.mktemp("fuzz") / "db.sqlite3"))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=messages(), sender=st.one_of(st.none(), addresses()), recipients=ENVELOPE_RECIPIENTS)
def test_readmail_subprocess_never_prints_a_traceback(readmail_env, raw, sender, recipients):
    """A few samples through the real process: nothing reaches stderr but the one line."""
    # argv is bytes without NULs (C strings end there): what an MTA can pass.
    args = [
        arg.replace("\x00", "").encode("utf-8", "replace")
        for arg in readmail_args(sender, recipients)
    ]
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"django", b"readmail", *args],
        input=raw,
        capture_output=True,
        env=readmail_env,
        timeout=60,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode in DOCUMENTED_EXIT_CODES, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) <= 1, stderr


@pytest.mark.parametrize("option", ["--sender", "--recipient"])
def test_readmail_takes_envelope_values_that_start_with_a_dash(readmail_env, option):
    """Found by the property above: argparse read ``-x@evil`` as an option and exited 2."""
    args = ["--sender", "alice@example.org", "--recipient", "accept@example.com"]
    args[args.index(option) + 1] = "-x@example.com"
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"django", b"readmail", *args],
        input=b"From: a@example.org\r\nSubject: dash\r\n\r\nHi\r\n",
        capture_output=True,
        env=readmail_env,
        timeout=60,
    )
    assert proc.returncode == (EX_OK if option == "--sender" else EX_NOUSER), proc.stderr
