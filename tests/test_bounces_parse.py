"""parse_bounce() on a corpus of bounces, complaints and auto-replies.

Every sample in tests/files/bounces/ was written for this project from the
RFC examples (RFC 3464, RFC 5965) and the documented formats of the MTAs
named in its file name.  EXPECTED states what each one reports.
"""

import logging
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailserver.bounces import BouncedRecipient, BounceReport, parse_bounce

CORPUS = Path(__file__).parent / "files" / "bounces"


def bounce(*recipients, message_id=None, mta=""):
    return BounceReport("bounce", list(recipients), message_id, mta)


def failed(address, status="", permanent=None, diagnostic=""):
    """A failed recipient; permanent unless its status says otherwise."""
    if permanent is None:
        permanent = status.startswith("5")
    return BouncedRecipient(address, permanent, status, diagnostic, "failed")


def delayed(address, status="", diagnostic=""):
    return BouncedRecipient(address, False, status, diagnostic, "delayed")


def complaint(address, message_id, mta=""):
    return BounceReport(
        "complaint", [BouncedRecipient(address, True, "", "abuse")], message_id, mta
    )


def autoreply(address, message_id=None):
    return BounceReport("autoreply", [BouncedRecipient(address, False)], message_id)


# file name -> expected report.  A recipient's diagnostic is compared as a
# fragment of the real one (see test_corpus); "" means "anything".
EXPECTED = {
    # RFC 3464 delivery status notifications.
    "dsn_single_failed.eml": bounce(
        failed("bob@example.net", "5.1.1", diagnostic="550 5.1.1 <bob@example.net>: Recipient"),
        message_id="<order-1234.shipped@example.org>",
        mta="mail.example.org",
    ),
    "dsn_mixed_recipients.eml": bounce(
        failed("bob@example.net", "5.1.1", diagnostic="User unknown"),
        delayed("carol@example.com", "4.4.1", diagnostic="451 4.4.1 reply: read error"),
        # Action "failed" with a 4.x.x status: they disagree, so temporary.
        failed("erin@example.net", "4.2.2", diagnostic="Mailbox full"),
        failed("grace@example.com", "5.7.1", diagnostic="550-5.7.1 Message rejected by policy."),
        message_id="<lunch.friday.77@example.org>",
        mta="relay.example.org",
    ),
    "dsn_original_recipient_only.eml": bounce(
        failed("louisl@larry.slip.umd.edu", "4.0.0", diagnostic="426 connection timed out"),
        mta="cs.utk.edu",
    ),
    "dsn_rfc822_headers.eml": bounce(
        failed("heidi@example.net", "5.1.1", diagnostic="550 5.1.1 No such user"),
        message_id="<news.2026-11.heidi@example.org>",
        mta="mx1.example.org",
    ),
    "dsn_in_reply_to_fallback.eml": bounce(
        delayed("judy@example.net", "4.4.7"),
        message_id="<invoice.99@example.org>",
        mta="gateway.example.net",
    ),
    "dsn_global_utf8.eml": bounce(
        failed("jürgen@bücher.example", "5.1.10", diagnostic="null MX"),
        message_id="<gruesse.1@example.org>",
        mta="mail.example.org",
    ),
    "dsn_success_only.eml": None,
    # RFC 5965 feedback reports.
    "arf_abuse.eml": complaint(
        "user@example.com", "<8787KJKJ3K4J3K4J3K4J3.mail@example.net>", mta="mail.example.com"
    ),
    "arf_recipient_from_to.eml": complaint("kim@example.com", "<promo.2026-11.kim@example.org>"),
    "arf_not_spam.eml": None,
    # RFC 3834 auto-replies.
    "autoreply_sieve_vacation.eml": autoreply(
        "mallory@example.net", "<order-1234.shipped@example.org>"
    ),
    "autoreply_outlook.eml": autoreply("niaj@example.com", "<lunch.friday.77@example.org>"),
    "autoreply_german.eml": autoreply("olivia@beispiel.example"),
    "autoreply_french.eml": autoreply("peggy@exemple.example", "<lunch.friday.77@example.org>"),
    "autoreply_x_autorespond.eml": autoreply("support@vendor.example"),
    # Non-standard bounces.
    "exim_failed.eml": bounce(
        failed("bob@example.net", "5.1.1", diagnostic="Recipient address rejected"),
        failed("quentin@example.net", "5.2.2", diagnostic="552 5.2.2 Mailbox full"),
        message_id="<order-1234.shipped@example.org>",
    ),
    "exim_plain_failed.eml": bounce(
        # A bare 550 reply code, no enhanced status code.
        failed("rupert@example.net", permanent=True, diagnostic="550 No such recipient here"),
        message_id="<welcome.rupert@example.org>",
    ),
    "exim_delayed.eml": bounce(
        delayed("sybil@example.net", "4.2.2", diagnostic="Mailbox temporarily over quota")
    ),
    "qmail.eml": bounce(
        failed("trent@example.org", "5.1.1", diagnostic="no mailbox here by that name"),
        failed("ursula@example.net", "5.7.1", diagnostic="Relay access denied"),
        failed("victor@example.net", "4.4.2", diagnostic="connection died"),
        message_id="<20261115093000.11869.qmail@example.org>",
    ),
    "postfix_plain.eml": bounce(
        failed("wendy@example.net", "5.7.1", diagnostic="said: 554 5.7.1"),
        message_id="<invoice.wendy.5@example.org>",
    ),
    "postfix_multipart_nodsn.eml": bounce(
        failed("xavier@example.net", "5.1.1", diagnostic="User unknown"),
        failed("yolanda@example.net", "4.2.2", diagnostic="Mailbox full"),
        message_id="<q4.report@example.org>",
    ),
    "postfix_temporary_4xx.eml": bounce(
        failed("gina@example.net", "4.2.2", diagnostic="Mailbox full, try again later"),
        message_id="<big.gina@example.org>",
    ),
    "sendmail_plain.eml": bounce(
        failed("zoe@example.net", "5.1.1", diagnostic="User unknown"),
        message_id="<reminder.zoe@example.org>",
    ),
    "sendmail_warning.eml": bounce(
        delayed("hank@example.net", "4.3.2", diagnostic="421 4.3.2 Service not available"),
        message_id="<slow.hank@example.org>",
    ),
    "exchange_2003.eml": bounce(
        failed("aaron@corp.example.com", "5.1.1", diagnostic="could not be found"),
        message_id="<kickoff.aaron@example.org>",
    ),
    "office365_ndr.eml": bounce(
        failed("beth@contoso.example", "5.1.1", diagnostic="RESOLVER.ADR.RecipNotFound"),
        message_id="<kickoff.beth@example.org>",
    ),
    "gmail_failure.eml": bounce(
        failed("carl@example.net", "5.1.1", diagnostic="does not exist"),
        message_id="<newsletter.2026-11.carl@example.org>",
    ),
    "gmail_legacy.eml": bounce(
        failed("dora@example.net", "5.2.1", diagnostic="is disabled"),
        message_id="<legacy.dora@example.org>",
    ),
    "yahoo_failure.eml": bounce(
        failed("eve@example.net", "5.1.1", diagnostic="User unknown"),
        message_id="<yahoo.out.eve@example.org>",
    ),
    # No reply code at all: the failure is real, its permanence unknown.
    "undelivered_plain.eml": bounce(
        failed("fiona@example.net", permanent=False, diagnostic="could not be delivered"),
        message_id="<photos.fiona@example.org>",
    ),
    # Not bounces.
    "ordinary.eml": None,
    # RFC 8098 read receipt: auto-replied, but neither a failure nor an away notice.
    "mdn_read_receipt.eml": None,
    "ordinary_quotes_a_bounce.eml": None,
    "newsletter.eml": None,
    # Malformed reports.
    "malformed_dsn_empty_status.eml": None,
    "malformed_encodings.eml": None,
    # Cut off after "Action: failed": no Status, so permanence is unknown.
    "malformed_truncated_dsn.eml": bounce(
        failed("ida@example.net", permanent=False), mta="mail.example.org"
    ),
}


def without_diagnostics(report):
    recipients = [
        BouncedRecipient(r.address, r.permanent, r.status, "", r.action) for r in report.recipients
    ]
    return BounceReport(report.kind, recipients, report.original_message_id, report.reporting_mta)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name):
    report = parse_bounce((CORPUS / name).read_bytes())
    expected = EXPECTED[name]
    if expected is None:
        assert report is None
        return
    assert without_diagnostics(report) == without_diagnostics(expected)
    for got, wanted in zip(report.recipients, expected.recipients, strict=True):
        assert wanted.diagnostic in got.diagnostic


def test_every_sample_has_an_expectation():
    assert sorted(path.name for path in CORPUS.glob("*.eml")) == sorted(EXPECTED)


def test_permanent_failures():
    report = parse_bounce((CORPUS / "dsn_mixed_recipients.eml").read_bytes())
    assert [r.address for r in report.permanent_failures] == [
        "bob@example.net",
        "grace@example.com",
    ]


def dsn(*blocks, report_type="delivery-status"):
    """Build a minimal multipart/report around per-recipient blocks."""
    status = "Reporting-MTA: dns; mx.example.org\n\n" + "\n\n".join(blocks)
    return (
        "From: MAILER-DAEMON@mx.example.org\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nReport.\n\n"
        f"--b\nContent-Type: message/delivery-status\n\n{status}\n\n--b--\n"
    ).encode()


@pytest.mark.parametrize(
    "block, permanent",
    [
        ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1", True),
        ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 4.4.7", False),
        ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 2.0.0", False),
        ("Final-Recipient: rfc822; a@example.net\nAction: delayed\nStatus: 5.1.1", False),
        # No Status: the Diagnostic-Code's reply code decides, else temporary.
        (
            "Final-Recipient: rfc822; a@example.net\nAction: failed\nDiagnostic-Code: smtp; 550",
            True,
        ),
        (
            "Final-Recipient: rfc822; a@example.net\nAction: failed\nDiagnostic-Code: smtp; 451",
            False,
        ),
        ("Final-Recipient: rfc822; a@example.net\nAction: failed", False),
        # No Action: a failure status makes it a failure, never a permanent one.
        ("Final-Recipient: rfc822; a@example.net\nStatus: 5.1.1", False),
        ("Final-Recipient: RFC822; <a@example.net>\nAction: FAILED\nStatus: 5.1.1 (no)", True),
    ],
)
def test_dsn_permanence(block, permanent):
    report = parse_bounce(dsn(block))
    assert [(r.address, r.permanent) for r in report.recipients] == [("a@example.net", permanent)]


@pytest.mark.parametrize(
    "block",
    [
        "Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0",
        "Final-Recipient: rfc822; a@example.net\nAction: relayed\nStatus: 2.0.0",
        "Final-Recipient: rfc822; a@example.net\nAction: expanded\nStatus: 2.0.0",
        "Final-Recipient: rfc822; a@example.net\nStatus: 2.0.0",
        "Final-Recipient: x400; /C=US/O=Example/\nAction: failed\nStatus: 5.1.1",
        "Action: failed\nStatus: 5.1.1",
    ],
)
def test_dsn_without_failed_recipient_is_none(block):
    assert parse_bounce(dsn(block)) is None


def test_dsn_without_per_message_block():
    raw = dsn("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1")
    raw = raw.replace(b"Reporting-MTA: dns; mx.example.org\n\n", b"")
    report = parse_bounce(raw)
    assert [r.address for r in report.recipients] == ["a@example.net"]
    assert report.reporting_mta == ""


def test_dsn_lists_each_recipient_once():
    block = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1"
    report = parse_bounce(dsn(block, block.replace("a@", "A@")))
    assert [r.address for r in report.recipients] == ["a@example.net"]


@pytest.mark.parametrize(
    "subject, headers, expected",
    [
        ("Out of Office: Hello", "", True),
        ("Out of the office", "", True),
        ("Automatic reply: Hello", "", True),
        ("AutoReply: Hello", "", True),
        ("Abwesenheitsnotiz: Hallo", "", True),
        ("Automatische Antwort: Hallo", "", True),
        ("Réponse automatique : Bonjour", "", True),
        ("Respuesta automática: Hola", "", True),
        ("Hello", "Auto-Submitted: auto-replied\n", True),
        ("Hello", "X-Autoreply: yes\n", True),
        ("Hello", "X-Autorespond: on\n", True),
        ("Hello", "Precedence: auto_reply\n", True),
        # Not auto-replies.
        ("Out of office on Friday?", "", False),
        ("Hello", "Auto-Submitted: auto-generated\n", False),
        ("Hello", "Auto-Submitted: no\n", False),
        ("Hello", "X-Autoreply: no\n", False),
        ("Hello", "Precedence: bulk\n", False),
    ],
)
def test_autoreply_detection(subject, headers, expected):
    message = (
        f"From: Pat <pat@example.net>\nTo: alice@example.org\nSubject: {subject}\n{headers}\n"
        "I am away.\n"
    ).encode()
    report = parse_bounce(message)
    if expected:
        assert report == autoreply("pat@example.net")
    else:
        assert report is None


def test_autoreply_without_sender_is_none():
    assert parse_bounce(b"Subject: Automatic reply: Hello\n\nAway.\n") is None


@pytest.mark.parametrize(
    "text, permanent, status",
    [
        ("<a@example.net>: host mx said: 550 5.1.1 User unknown", True, "5.1.1"),
        ("<a@example.net>: host mx said: 450 4.2.0 Greylisted", False, "4.2.0"),
        # The enhanced status code is the more precise and wins.
        ("<a@example.net>: host mx said: 550 4.2.2 Mailbox full", False, "4.2.2"),
        ("<a@example.net>: host mx said: 554 Rejected", True, ""),
        ("<a@example.net>: host mx said: 421 Try later", False, ""),
        # IP addresses, times and versions are not codes.
        ("<a@example.net>: host mx[192.0.2.5] at 10:45, Postfix 3.5.1", False, ""),
        ("<a@example.net>: connection died (#4.4.2)", False, "4.4.2"),
    ],
)
def test_codes_near_the_address_decide_permanence(text, permanent, status):
    message = (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
        f"This is the mail system at host mx.example.org.\n\n{text}\n"
    ).encode()
    (recipient,) = parse_bounce(message).recipients
    assert (recipient.address, recipient.permanent, recipient.status) == (
        "a@example.net",
        permanent,
        status,
    )


def test_codes_are_read_per_recipient():
    message = (
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"This is the mail system at host mx.example.org.\n\n"
        b"<a@example.net>: host mx said: user unknown\n"
        b"<b@example.net>: host mx said: 550 5.1.1 user unknown\n"
    )
    report = parse_bounce(message)
    # a@ gets no code of its own: b@'s 550 must not be borrowed.
    assert [(r.address, r.permanent) for r in report.recipients] == [
        ("a@example.net", False),
        ("b@example.net", True),
    ]


class ErrorLogged(logging.Handler):
    """Record errors that parse_bounce's last-resort handler logs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def no_logged_errors():
    """Fail when parse_bounce only survived through its catch-all.

    parse_bounce never raises, so a bug in it shows up only as a logged
    error; this turns that back into a test failure.
    """
    handler = ErrorLogged()
    logger = logging.getLogger("mailserver.bounces")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    assert handler.records == [], handler.records[0].exc_text


def check(raw):
    report = parse_bounce(raw)
    assert report is None or isinstance(report, BounceReport)
    if report is not None:
        assert report.kind in ("bounce", "complaint", "autoreply")
        assert report.recipients or report.kind == "complaint"
        for recipient in report.recipients:
            assert "@" in recipient.address
            assert recipient.action in ("failed", "delayed", "")
            assert not (recipient.permanent and recipient.action == "delayed")


HYPOTHESIS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(st.binary(max_size=4000))
def test_random_bytes(no_logged_errors, raw):
    check(raw)


@HYPOTHESIS
@given(
    sample=st.sampled_from(sorted(EXPECTED)),
    cut=st.floats(0, 1),
    noise=st.binary(max_size=50),
)
def test_truncated_and_corrupted_samples(no_logged_errors, sample, cut, noise):
    raw = (CORPUS / sample).read_bytes()
    position = int(len(raw) * cut)
    check(raw[:position] + noise)
    check(raw[:position] + noise + raw[position + len(noise) :])


CONTENT_TYPES = [
    "text/plain",
    "text/html",
    "text/rfc822-headers",
    "message/rfc822",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/global-headers",
    "application/octet-stream",
]
FIELDS = [
    "Final-Recipient",
    "Original-Recipient",
    "Action",
    "Status",
    "Diagnostic-Code",
    "Feedback-Type",
    "Original-Rcpt-To",
    "Message-ID",
    "To",
    "From",
    "Subject",
    "Auto-Submitted",
    "X-Failed-Recipients",
    "Content-Transfer-Encoding",
]
field_values = st.one_of(
    st.sampled_from(
        [
            "rfc822; a@example.net",
            "failed",
            "delayed",
            "5.1.1",
            "4.4.7",
            "smtp; 550 5.1.1 no",
            "abuse",
            "<id@example.org>",
            "MAILER-DAEMON@example.org",
            "auto-replied",
            "base64",
            "quoted-printable",
            "=?utf-8?q?=C3=A9?=",
            "=?x-unknown?b?!!?=",
        ]
    ),
    st.text(max_size=40).map(lambda s: s.replace("\r", " ").replace("\n", " ")),
)
headers = st.lists(st.tuples(st.sampled_from(FIELDS), field_values), max_size=6).map(
    lambda pairs: "".join(f"{name}: {value}\n" for name, value in pairs)
)


@st.composite
def mime_tree(draw, depth=0):
    """A random MIME structure, of the kind that reaches a bounce address."""
    head = draw(headers)
    if depth < 3 and draw(st.booleans()):
        boundary = f"b{depth}"
        report_type = draw(st.sampled_from(["delivery-status", "feedback-report", "x"]))
        subtype = draw(st.sampled_from(["report", "mixed", "alternative"]))
        children = draw(st.lists(mime_tree(depth + 1), max_size=3))
        closing = draw(st.sampled_from([f"--{boundary}--\n", ""]))
        body = "".join(f"--{boundary}\n{child}\n" for child in children) + closing
        return (
            f"{head}Content-Type: multipart/{subtype}; report-type={report_type};"
            f' boundary="{boundary}"\n\n{body}'
        )
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    charset = draw(st.sampled_from(["utf-8", "us-ascii", "x-bogus", "utf-16"]))
    body = draw(st.one_of(headers, st.text(max_size=200)))
    return f"{head}Content-Type: {content_type}; charset={charset}\n\n{body}\n"


@HYPOTHESIS
@given(tree=mime_tree(), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_random_mime_structures(no_logged_errors, tree, encoding):
    check(tree.encode(encoding, errors="replace"))


def test_huge_message_is_read_quickly():
    raw = (CORPUS / "exim_plain_failed.eml").read_bytes() + b"x" * 70 + b"\n"
    raw += (b"A" * 76 + b"\n") * 400_000  # About 30 MB of returned message.
    start = time.monotonic()
    report = parse_bounce(raw)
    assert time.monotonic() - start < 5
    assert [r.address for r in report.recipients] == ["rupert@example.net"]


def test_many_recipients_are_read_quickly():
    lines = "".join(
        f"<u{i}@example.net>: host mx said: 550 5.1.1 unknown\n" for i in range(10_000)
    )
    raw = (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
        f"This is the mail system at host mx.example.org.\n\n{lines}"
    ).encode()
    start = time.monotonic()
    report = parse_bounce(raw)
    assert time.monotonic() - start < 5
    assert len(report.permanent_failures) == 10_000


def test_deeply_nested_message():
    raw = b"".join(
        b'Content-Type: multipart/mixed; boundary="%d"\n\n--%d\n' % (i, i) for i in range(5000)
    )
    assert parse_bounce(raw) is None


@pytest.mark.parametrize("raw", [b"", b"\x00" * 100, b"\xff\xfe\xfd", b"Subject:\n\n", b"\n" * 10])
def test_garbage_is_none(raw):
    assert parse_bounce(raw) is None


def test_accepts_any_bytes_like_object():
    raw = (CORPUS / "dsn_single_failed.eml").read_bytes()
    assert parse_bounce(memoryview(raw)) == parse_bounce(bytearray(raw))


def test_report_is_a_plain_value():
    # Reports can be compared, logged and passed to signals as values.
    report = parse_bounce((CORPUS / "dsn_single_failed.eml").read_bytes())
    assert report == parse_bounce((CORPUS / "dsn_single_failed.eml").read_bytes())
    assert "bob@example.net" in repr(report)
