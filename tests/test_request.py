"""EmailRequest: lazy, forgiving parsing of inbound mail, and replies to it."""

import base64
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailserver.mime import body as mime_body
from mailserver.mime.charsets import decode_bytes
from mailserver.mime.headers import HeaderMap, decode_header_value
from mailserver.request import EmailRequest
from mailserver.response import EmailResponse

FILES = Path(__file__).parent / "files"


def load(name, **kwargs):
    return EmailRequest((FILES / name).read_bytes(), **kwargs)


def message(headers, body="Body.\n"):
    """Build a raw message from a header block written as text, with CRLF endings."""
    text = headers.strip("\n") + "\n\n" + body
    return EmailRequest(text.replace("\n", "\r\n").encode())


# Header attributes ---------------------------------------------------------------------


def test_plain_message():
    request = load("plain.eml")
    assert request.subject == "Printer on fire"
    assert request.from_email == "jane@example.com"
    assert request.from_name == "Jane Doe"
    assert request.to == ["help@example.org"]
    assert request.cc == []
    assert request.message_id == "<plain-1@example.com>"
    assert request.date == datetime(2023, 1, 2, 9, 0, tzinfo=UTC)
    assert request.text == (
        "Hello,\n\nthe printer on the second floor is on fire again.\n\nJane\n"
    )
    assert request.html == ""
    assert request.attachments == []


def test_address_and_threading_headers():
    request = load("alternative.eml")
    assert request.from_email == "jane@example.com"
    assert request.from_name == "Doe, Jane"
    assert request.to == ["help@example.org", "bob@example.org"]
    assert request.cc == ["carol@example.net"]
    assert request.reply_to == ["replies@example.com"]
    assert request.header_recipients == [
        "help@example.org",
        "bob@example.org",
        "carol@example.net",
    ]
    assert request.in_reply_to == "<parent@example.org>"
    assert request.references == ["<root@example.org>", "<parent@example.org>"]
    assert request.date == datetime(2023, 1, 3, 8, 30, tzinfo=timezone(timedelta(hours=-5)))


def test_headers_mapping_is_case_insensitive_and_decoded():
    request = load("plain.eml")
    headers = request.headers
    assert headers["subject"] == headers["SUBJECT"] == "Printer on fire"
    assert "message-id" in headers
    assert "X-Missing" not in headers
    assert headers.get("X-Missing") is None
    assert headers.get_all("x-missing") == []
    # Folded continuation lines are unfolded into one value; control characters
    # (the tab here) become spaces.
    assert headers.get_all("Received") == [
        "from mx.example.com (mx.example.com [192.0.2.1]) by mail.example.org "
        "with ESMTPS id 4AbC; Mon, 2 Jan 2023 10:00:01 +0100"
    ]
    assert list(headers)[:3] == ["Return-Path", "Received", "From"]


def test_header_get_all_keeps_order():
    headers = HeaderMap.from_bytes(b"Received: one\r\nX-A: a\r\nreceived: two\r\n\r\nbody")
    assert headers.get_all("RECEIVED") == ["one", "two"]
    assert headers["Received"] == "one"
    assert len(headers) == 2


def test_missing_headers():
    request = load("missing_headers.eml")
    assert (request.subject, request.from_email, request.from_name) == ("", "", "")
    assert (request.to, request.cc, request.references) == ([], [], [])
    assert (request.message_id, request.in_reply_to) == ("", "")
    assert request.date is None
    assert request.text == "No From, To, Subject, Date or Message-ID here.\n"


@pytest.mark.parametrize(
    "name, subject",
    [
        ("no_headers.eml", ""),
        ("bare_lf.eml", "Bare LF"),
    ],
)
def test_odd_header_blocks(name, subject):
    request = load(name)
    assert request.subject == subject
    assert request.text.endswith("\n")


@pytest.mark.parametrize(
    "encoded, decoded",
    [
        ("=?utf-8?q?Caf=C3=A9?=", "Café"),
        ("=?UTF-8?B?Q2Fmw6k=?=", "Café"),
        ("=?iso-8859-1?q?Gr=FC=DFe?=", "Grüße"),
        ("=?windows-1252?q?=93quoted=94?=", "\u201cquoted\u201d"),
        # Labelled ISO-8859-1, written in windows-1252, as senders do.
        ("=?iso-8859-1?q?=80_only?=", "€ only"),
        ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
        ("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),
        ("=?shift_jis?b?grGC8YLJgr+CzQ==?=", "こんにちは"),
        ("=?gb2312?b?xOO6ww==?=", "你好"),
        ("=?utf-8*en?q?with_language?=", "with language"),
        # Whitespace between adjacent encoded words goes; around plain text it stays.
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= and =?utf-8?q?b?=", "a and b"),
        ("Re: =?utf-8?q?x?=", "Re: x"),
        # A multibyte character split across two words (é is C3 A9).
        ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=", "café"),
        # Broken: unknown charset, bad base64 padding, undecodable bytes, junk.
        ("=?x-no-such-charset?q?caf=C3=A9?=", "café"),
        ("=?utf-8?b?Q2Fmw6k?=", "Café"),
        ("=?utf-8?q?bad=FF?=", "bad\ufffd"),
        ("=?utf-8?x?unknown-encoding?=", "=?utf-8?x?unknown-encoding?="),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("", ""),
    ],
)
def test_rfc2047_words(encoded, decoded):
    assert decode_header_value(encoded) == decoded
    assert message(f"Subject: {encoded}").subject == decoded


def test_encoded_comma_in_a_display_name_does_not_split_the_address():
    request = message("From: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <j@example.de>")
    assert (request.from_name, request.from_email) == ("Müller, Jürgen", "j@example.de")


def test_raw_8bit_headers():
    raw = "Subject: Grüße\r\nFrom: Jürgen <j@example.de>\r\n\r\nx".encode()
    assert EmailRequest(raw).subject == "Grüße"
    assert EmailRequest(raw.replace("ü".encode(), b"\xfc")).from_name == "Jürgen"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<a@b> (comment)", "<a@b>"),
        ("a@b", "<a@b>"),
        ("  <a@b>\r\n", "<a@b>"),
        ("not an id at all", ""),
    ],
)
def test_message_id_forms(value, expected):
    assert message(f"Message-ID: {value}").message_id == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Mon, 2 Jan 2023 10:00:00 +0000", datetime(2023, 1, 2, 10, 0, tzinfo=UTC)),
        ("2 Jan 2023 10:00:00 -0000", datetime(2023, 1, 2, 10, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("Mon, 2 Jan 99999 10:00:00 +0000", None),
    ],
)
def test_dates(value, expected):
    assert message(f"Date: {value}").date == expected


# Bodies -----------------------------------------------------------------------------


def test_multipart_alternative():
    request = load("alternative.eml")
    assert request.text == "Today: crème brûlée."
    assert request.html == "<p>Today: <b>crème brûlée</b>.</p>"
    assert request.attachments == []


def test_attachments_including_inline_parts():
    request = load("attachments.eml")
    assert request.text == ""
    assert request.html.startswith('<p>See the logo: <img src="cid:logo@example.com">')
    summary = [(a.filename, a.content_type, a.inline, a.content_id) for a in request.attachments]
    assert summary == [
        ("logo.png", "image/png", True, "<logo@example.com>"),
        ("report.pdf", "application/pdf", False, ""),
        ("résumé.txt", "text/plain", False, ""),
        ("", "text/calendar", False, ""),
    ]
    logo, report, resume, _ = request.attachments
    assert logo.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert report.content == b"%PDF-1.4\n% not really a PDF\n"
    assert report.size == len(report.content)
    assert resume.content == b"plain text file"


def test_nested_message_is_one_attachment():
    request = load("forwarded.eml")
    # The forwarded message's text and PDF belong to it, not to the outer message.
    assert request.text == "See the message below."
    forwarded, original = request.attachments
    assert (forwarded.filename, forwarded.content_type) == ("forwarded.eml", "message/rfc822")
    assert (original.filename, original.content_type) == ("original.eml", "message/rfc822")
    inner = EmailRequest(forwarded.content)
    assert inner.subject == "Invoice"
    assert inner.text == "Inner text that is not the outer body."
    assert [a.filename for a in inner.attachments] == ["invoice.pdf"]


@pytest.mark.parametrize(
    "name, subject, from_name, text",
    [
        ("latin1.eml", "Grüße", "Jürgen Müller", "Grüße aus Köln \u201cmit Zitat\u201d €\n"),
        ("koi8r.eml", "Привет", "Иван", "Привет, мир!\n"),
        ("shift_jis.eml", "こんにちは", "", "こんにちは、世界①"),
        ("unknown_charset.eml", "café", "", "café crème\n"),
    ],
)
def test_non_utf8_charsets(name, subject, from_name, text):
    request = load(name)
    assert (request.subject, request.from_name, request.text) == (subject, from_name, text)


@pytest.mark.parametrize(
    "charset, data, expected",
    [
        ("utf-8", "naïve".encode(), "naïve"),
        ("UTF8", "naïve".encode(), "naïve"),
        ('"iso-8859-15"', "€".encode("iso-8859-15"), "€"),
        ("us-ascii", b"\x93hi\x94", "\u201chi\u201d"),
        (None, "naïve".encode(), "naïve"),
        (None, "naïve".encode("cp1252"), "naïve"),
        ("x-unknown", "naïve".encode("cp1252"), "naïve"),
        ("base64", b"aGk=", "aGk="),  # a codec, but not a charset
        ("utf-8", b"ok\xff", "ok\ufffd"),
    ],
)
def test_decode_bytes(charset, data, expected):
    assert decode_bytes(data, charset) == expected


def test_truncated_multipart_keeps_what_arrived():
    request = load("truncated.eml")
    assert request.text == "The first part arrived."
    assert [(a.filename, a.content) for a in request.attachments] == [
        ("half.pdf", b"%PDF-1.4\n% not really a ")
    ]


def test_multipart_without_boundary_reads_as_text():
    # RFC 2045 section 5.2: an unusable Content-Type means text/plain.
    request = message(
        "Content-Type: multipart/mixed", "--x\nContent-Type: text/plain\n\nhi\n--x--\n"
    )
    assert request.text == "--x\nContent-Type: text/plain\n\nhi\n--x--\n"
    assert request._parsed.body.parser == "email"


def test_flanker_failure_falls_back_to_the_email_package():
    # A delivery report whose status part claims to be a multipart without a
    # boundary: flanker raises DecodingError, Python's parser reads it.
    request = load("flanker_fails.eml")
    from flanker import mime

    with pytest.raises(mime.DecodingError):
        mime.from_string(request.raw)
    assert request._parsed.body.parser == "email"
    assert request.text == (
        "Delivery has failed to these recipients or groups:\nnobody@example.org\n"
        "Reporting-MTA: dns; example.onmicrosoft.com\n"
        "Final-Recipient: rfc822; nobody@example.org\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
    )
    assert request.message.get_content_type() == "multipart/report"
    [headers] = request.attachments
    assert headers.content_type == "text/rfc822-headers"
    assert b"Message-ID: <orig-1@example.com>" in headers.content
    assert request.is_bounce


def test_when_both_parsers_fail_the_body_is_text(caplog):
    # Nesting deep enough to exhaust the recursion limit of both parsers.
    levels = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(1200)
    )
    request = EmailRequest(b"Subject: deep\r\n" + levels + b"\r\ndeep text\r\n")
    assert request.subject == "deep"
    assert request.text.startswith("--b0\nContent-Type: multipart/mixed; boundary=b1\n")
    assert request.text.endswith("deep text\n")
    assert request.message is None
    assert request.attachments == []
    assert "Could not parse a message's MIME structure" in caplog.text


def test_message_is_flanker_part_when_flanker_succeeds():
    request = load("plain.eml")
    assert request.message.content_type == "text/plain"
    assert request._parsed.body.parser == "flanker"


# Laziness ---------------------------------------------------------------------------


def test_header_attributes_do_not_parse_the_body():
    request = load("attachments.eml")
    assert request.subject == "Report with logo"
    assert request.from_email == "jane@example.com"
    assert request.is_bounce is False
    assert request._parsed.parsed_body is None
    assert request.attachments
    assert request._parsed.parsed_body is not None


def test_text_leaves_the_attachments_undecoded(monkeypatch):
    pdf = bytes(range(256)) * 40
    request = message(
        'Content-Type: multipart/mixed; boundary="m"',
        "--m\nContent-Type: text/plain\n\nSee attached.\n--m\n"
        "Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(pdf).decode() + "--m--\n",
    )
    decoded = []
    decode = mime_body._decode_transfer_encoding
    monkeypatch.setattr(
        mime_body,
        "_decode_transfer_encoding",
        lambda data, encoding: decoded.append(encoding) or decode(data, encoding),
    )
    assert request.text == "See attached."
    assert request._parsed.body.parser == "flanker"
    assert "base64" not in decoded
    [attachment] = request.attachments
    assert (attachment.filename, attachment.content) == ("a.pdf", pdf)


@settings(max_examples=300, deadline=None)
@given(
    string=st.text(alphabet="ab\r\n\udc80\u00e9", max_size=30),
    steps=st.lists(
        st.tuples(st.sampled_from(["seek", "read", "readline", "next"]), st.integers(-3, 35)),
        max_size=15,
    ),
)
def test_text_stream_reads_as_stringio(string, steps):
    # flanker reads every part through this stream instead of io.StringIO.
    ours, theirs = mime_body.TextStream(string), io.StringIO(string)
    for method, number in steps:
        if method == "seek":
            assert ours.seek(abs(number)) == theirs.seek(abs(number))
        elif method == "read":
            assert ours.read(number) == theirs.read(number)
        elif method == "readline":
            assert ours.readline() == theirs.readline()
        else:
            assert next(ours, None) == next(theirs, None)
        assert ours.tell() == theirs.tell()
    assert list(ours) == list(theirs)


def test_header_access_never_imports_flanker():
    code = (
        "import sys\n"
        "from mailserver.request import EmailRequest\n"
        "body = b'--x\\r\\n' * 100000\n"
        "r = EmailRequest(b'Subject: hi\\r\\nContent-Type: multipart/mixed\\r\\n\\r\\n' + body)\n"
        "assert (r.subject, r.to, r.is_auto_submitted) == ('hi', [], False)\n"
        "assert 'flanker' not in sys.modules, 'flanker imported'\n"
        "assert 'email.parser' not in sys.modules, 'email parser imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_recipients_share_one_parse():
    request = EmailRequest(
        (FILES / "plain.eml").read_bytes(),
        envelope_from="jane@example.com",
        recipients=["a@example.org", "b@example.org"],
        transport="smtp",
    )
    first = request.for_recipient("a@example.org")
    second = request.for_recipient("b@example.org")
    assert (first.recipient, second.recipient) == ("a@example.org", "b@example.org")
    assert first.recipients == second.recipients == ["a@example.org", "b@example.org"]
    assert first.text is second.text
    assert first.headers is second.headers
    first.resolver_match = object()
    assert second.resolver_match is None


def test_envelope_attributes():
    request = EmailRequest(
        b"Subject: x\r\n\r\n",
        envelope_from="<jane@example.com>",
        recipient="help@example.org",
        peer="192.0.2.1",
        helo="mx.example.com",
        transport="lmtp",
    )
    assert request.envelope_from == "jane@example.com"
    assert request.recipients == ["help@example.org"]
    assert (request.peer, request.helo, request.transport) == (
        "192.0.2.1",
        "mx.example.com",
        "lmtp",
    )
    assert request.inbound is None
    assert request.resolver_match is None
    assert request.subaddress is None


def test_subaddress_comes_from_the_resolver_match():
    class Match:
        subaddress = "tag"

    request = EmailRequest(b"", recipient="user+tag@example.org")
    request.resolver_match = Match()
    assert request.subaddress == "tag"


# Never raising ----------------------------------------------------------------------

ATTRIBUTES = [
    "subject", "from_email", "from_name", "to", "cc", "reply_to", "header_recipients",
    "message_id", "in_reply_to", "references", "date", "headers", "text", "html",
    "attachments", "is_bounce", "is_auto_submitted", "return_path", "message",
]  # fmt: skip

HOSTILE = [
    b"",
    b"\x00\x00\x00",
    b"\xff\xfe\xfd garbage without any structure",
    b"\n\n\n",
    b"Subject: \x00\x01\x02\r\n\r\n\x00",
    b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n",
    b'Content-Type: text/plain; charset="\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!',
    b"Content-Type: text/plain; charset=utf-16\r\n\r\n\xd8\x00",
    b'From: <<<@@@>>>, ,,, "unterminated\r\nTo: ;;;:::\r\nDate: \xff\r\n\r\n',
    b"Content-Disposition: attachment; filename*=bogus''%ZZ%\r\nContent-Type: a/b\r\n\r\nx",
    b"Content-Type: message/rfc822\r\n\r\nnot a message",
    b"Subject: =?utf-8?b?====?= =?utf-8?q?=ZZ?= =?\xff?q?x?=\r\n\r\n",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_input_never_raises(raw):
    request = EmailRequest(raw)
    for name in ATTRIBUTES:
        getattr(request, name)
    assert isinstance(request.text, str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(
        st.sampled_from(
            [
                b"From: ",
                b"To: ",
                b"Subject: =?utf-8?b?",
                b"Content-Type: multipart/mixed; boundary=b\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Disposition: attachment; filename=",
                b"\r\n",
                b"\n",
                b"--b\r\n",
                b"--b--\r\n",
                b" folded\r\n",
            ]
        )
        | st.binary(max_size=30),
        max_size=30,
    )
)
def test_random_bytes_never_raise(headers):
    request = EmailRequest(b"".join(headers))
    for name in ATTRIBUTES:
        getattr(request, name)


# Bounces and automatic mail -----------------------------------------------------------


@pytest.mark.parametrize(
    "envelope_from, headers, expected",
    [
        ("jane@example.com", "From: jane@example.com", False),
        ("", "From: jane@example.com", True),
        ("<>", "From: jane@example.com", True),
        (None, "Return-Path: <>\nFrom: jane@example.com", True),
        (None, "Return-Path: <jane@example.com>\nFrom: jane@example.com", False),
        (None, "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>", True),
        ("MAILER-DAEMON@mx.example.com", "From: x@example.com", True),
        (
            "x@example.com",
            "From: x@example.com\nContent-Type: multipart/report; report-type=delivery-status;"
            ' boundary="b"',
            True,
        ),
        ("x@example.com", "From: x@example.com\nContent-Type: message/delivery-status", True),
        (
            "x@example.com",
            "From: postmaster@example.com\nContent-Type: multipart/report; boundary=b",
            True,
        ),
        # A read receipt, or a human writing from postmaster@, is not a bounce.
        (
            "x@example.com",
            "From: x@example.com\nContent-Type: multipart/report;"
            " report-type=disposition-notification; boundary=b",
            False,
        ),
        ("postmaster@example.com", "From: postmaster@example.com", False),
        (None, "", False),
    ],
)
def test_is_bounce(envelope_from, headers, expected):
    raw = (headers + "\n\nbody").replace("\n", "\r\n").encode()
    assert EmailRequest(raw, envelope_from=envelope_from).is_bounce is expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        ("", False),
        ("Auto-Submitted: no", False),
        ("Auto-Submitted: No (a human)", False),
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-generated; owner-email=x@example.com", True),
        ("Auto-Submitted: auto-notified", True),
        ("Precedence: bulk", True),
        ("Precedence: JUNK", True),
        ("Precedence: list", True),
        ("Precedence: first-class", False),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: Out of office", True),
    ],
)
def test_is_auto_submitted(headers, expected):
    assert message("From: x@example.com\n" + headers).is_auto_submitted is expected


# Replies --------------------------------------------------------------------------------


def test_reply_threads_and_marks_auto_replied():
    request = load(
        "alternative.eml", envelope_from="bounces@example.com", recipient="help@example.org"
    )
    reply = request.reply("We're on it.", html="<p>We're on it.</p>")
    assert isinstance(reply, EmailResponse)
    assert reply.to == ["bounces@example.com"]
    assert reply.from_email == "help@example.org"
    assert reply.subject == "Re: Café menu"
    assert reply.body == "We're on it."
    assert reply.alternatives[0][:2] == ("<p>We're on it.</p>", "text/html")
    sent = reply.message()
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["In-Reply-To"] == "<alt-1@example.com>"
    assert sent["References"] == "<root@example.org> <parent@example.org> <alt-1@example.com>"


@pytest.mark.parametrize(
    "envelope_from, headers, expected",
    [
        ("env@example.com", "From: f@example.com\nReply-To: r@example.com", "env@example.com"),
        ("", "From: f@example.com\nReply-To: r@example.com", "r@example.com"),
        (None, "From: f@example.com\nReply-To: r@example.com", "r@example.com"),
        (None, "Return-Path: <rp@example.com>\nFrom: f@example.com", "rp@example.com"),
        (None, "From: f@example.com", "f@example.com"),
    ],
)
def test_reply_goes_to_envelope_sender_then_reply_to_then_from(envelope_from, headers, expected):
    raw = (headers + "\n\nbody").replace("\n", "\r\n").encode()
    reply = EmailRequest(raw, envelope_from=envelope_from, recipient="us@example.org").reply("ok")
    assert reply.to == [expected]


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE:Hello", "RE:Hello"),
        ("", "Re:"),
    ],
)
def test_reply_subject(subject, expected):
    assert message(f"From: f@example.com\nSubject: {subject}").reply("ok").subject == expected


def test_reply_in_reply_to_without_references():
    request = message("From: f@example.com\nMessage-ID: <c@x>\nIn-Reply-To: <p@x>")
    assert request.reply("ok").extra_headers["References"] == "<p@x> <c@x>"


def test_reply_keyword_arguments_override_defaults():
    request = load("plain.eml", recipient="help@example.org")
    reply = request.reply(
        "ok", subject="Ticket #5", from_email="tickets@example.org", headers={"X-Ticket": "5"}
    )
    assert (reply.subject, reply.from_email) == ("Ticket #5", "tickets@example.org")
    assert reply.extra_headers["X-Ticket"] == "5"
    assert reply.extra_headers["Auto-Submitted"] == "auto-replied"


def test_reply_sanitises_hostile_header_values():
    encoded = base64.b64encode(b"Hi\r\nBcc: victim@example.net\r\n\r\nInjected").decode()
    raw = (
        f"From: attacker@example.com\r\nSubject: =?utf-8?b?{encoded}?=\r\n"
        "Message-ID: <a@x>\r\nReferences: <r\r\n\tb@x>\r\n\r\nbody"
    ).encode()
    request = EmailRequest(raw, envelope_from="attacker@example.com\r\nBcc: v@example.net")
    reply = request.reply("ok")
    assert "\n" not in reply.subject and "\r" not in reply.subject
    assert reply.subject == "Re: Hi Bcc: victim@example.net Injected"
    sent = reply.message().as_bytes()
    assert b"\r\nBcc:" not in sent and b"\nBcc:" not in sent
    # The broken envelope sender is skipped, not repaired.
    assert reply.to == ["attacker@example.com"]
    assert reply.extra_headers["In-Reply-To"] == "<a@x>"


def test_concurrent_recipients_parse_the_body_once():
    request = load("attachments.eml", recipients=[f"r{i}@example.org" for i in range(8)])
    copies = [request.for_recipient(address) for address in request.recipients]
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda copy: copy._parsed.body, copies))
    assert all(body is bodies[0] for body in bodies)
