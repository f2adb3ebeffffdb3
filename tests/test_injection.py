"""Header injection: text from inbound mail never adds a header to the mail we send.

An attacker controls the Subject, the display names and every encoded word of the
mail they send us. Views put that text into replies (``request.reply()``) and
templates (``send_templated_mail``); these tests render what is queued and read the
bytes, so a CR, LF or Unicode line break that survived anywhere would show up as an
extra header line.
"""

import base64
import re
from collections import Counter

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailserver.mime.headers import header_block
from mailserver.test import MailClient
from mailserver.test.outbox import queued_mail
from tests.strategies import header_values

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("hardening_templates"),
]

#: Header names an injection would try to add.
INJECTED = {"bcc", "x-injected", "cc", "content-type-evil"}


def b64_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


# What arrives in the Subject (or the From display name), as raw header bytes.
PAYLOADS = {
    "encoded CRLF (Q)": b"=?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?=",
    "encoded CRLF (B)": b64_word("Hi\r\nBcc: victim@evil.example").encode(),
    "encoded LF only": b64_word("Hi\nX-Injected: 1").encode(),
    "encoded CR only": b64_word("Hi\rX-Injected: 1").encode(),
    "encoded blank line then body": b64_word("Hi\r\n\r\nX-Injected: 1").encode(),
    "encoded NEL": b64_word("Hi\x85X-Injected: 1").encode(),
    "encoded LINE SEPARATOR": b64_word("Hi\u2028X-Injected: 1").encode(),
    "raw LINE SEPARATOR (UTF-8)": "Hi\u2028X-Injected: 1".encode(),
    "raw NEL (Latin-1 byte)": b"Hi\x85X-Injected: 1",
    "raw NUL": b"Hi\x00X-Injected: 1",
    "bare CR in the header": b"Hi\rX-Injected: 1",
    "folded continuation": b"Hi\r\n X-Injected: 1",
    "encoded folding with tab": b64_word("Hi\r\n\tBcc: victim@evil.example").encode(),
}


@pytest.fixture
def hardening_templates():
    """The templates of tests/mailconfs/hardening.py, held in memory."""
    templates = {
        "hardening/ack.subject.txt": "Re: {{ subject }}\n",
        "hardening/ack.txt": "Hello {{ name }}, we got: {{ subject }}\n",
    }
    engine = {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", templates)]},
    }
    with override_settings(TEMPLATES=[engine], ROOT_MAILCONF="tests.mailconfs.hardening"):
        yield


def inbound(subject: bytes = b"Hello", name: bytes = b"Eve") -> bytes:
    return (
        b"From: " + name + b" <eve@example.org>\r\nTo: reply@example.com\r\n"
        b"Subject: " + subject + b"\r\nMessage-ID: <in-1@example.org>\r\n\r\nHi there\r\n"
    )


def header_names(raw: bytes) -> list[str]:
    """The names of the header lines of ``raw``, exactly as a receiving MTA splits them."""
    names = []
    for line in re.split(rb"\r\n|\n|\r", header_block(raw)):
        if line[:1] not in (b" ", b"\t") and b":" in line:
            names.append(line.split(b":", 1)[0].decode("latin-1").lower())
    return names


def send_and_render(recipient: str, raw: bytes, sender: str = "eve@example.org") -> bytes:
    """Receive ``raw``; return the bytes of the one mail the view queued."""
    [queued] = send_and_queue(recipient, raw, sender)
    return bytes(queued.outbound.raw)


def send_and_queue(recipient: str, raw: bytes, sender: str = "eve@example.org") -> list:
    [result] = MailClient().send_raw(raw, sender=sender, recipients=[recipient])
    assert result.smtp_code == 250, result
    queued = queued_mail()
    for message in queued:
        message.outbound.delete()
    return queued


@pytest.fixture
def benign_headers():
    """The header names each view's mail has when nothing hostile arrives."""
    return {
        recipient: sorted(header_names(send_and_render(recipient, inbound())))
        for recipient in ("reply@example.com", "name@example.com", "templated@example.com")
    }


def assert_no_injection(rendered: bytes, expected: list[str]) -> None:
    """No header the benign mail lacks, and none twice (a hostile id may drop one)."""
    names = header_names(rendered)
    assert not INJECTED & set(names), rendered
    assert not Counter(names) - Counter(expected), rendered
    assert b"\x00" not in header_block(rendered)


@pytest.mark.parametrize("recipient", ["reply@example.com", "templated@example.com"])
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_subject_cannot_add_headers(benign_headers, recipient, payload):
    rendered = send_and_render(recipient, inbound(subject=payload))
    assert_no_injection(rendered, benign_headers[recipient])


@pytest.mark.parametrize("recipient", ["name@example.com", "templated@example.com"])
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_display_name_cannot_add_headers(benign_headers, recipient, payload):
    rendered = send_and_render(recipient, inbound(name=payload))
    assert_no_injection(rendered, benign_headers[recipient])


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_message_ids_cannot_add_headers(benign_headers, payload):
    """In-Reply-To and References are copied from the inbound Message-ID and References."""
    raw = inbound().replace(
        b"Message-ID: <in-1@example.org>",
        b"Message-ID: <in-1@example.org" + payload + b">\r\nReferences: <r@x>" + payload,
    )
    rendered = send_and_render("reply@example.com", raw)
    assert_no_injection(rendered, benign_headers["reply@example.com"])


@pytest.mark.parametrize(
    "reply_to",
    [
        b"victim@evil.example\r\nBcc: other@evil.example",
        b"=?utf-8?q?victim@evil.example=0D=0ABcc:_x@evil.example?=",
        b"<victim@evil.example>, <x@evil.example\rBcc: y@evil.example>",
    ],
)
def test_reply_address_cannot_add_recipients(reply_to):
    raw = inbound().replace(b"Subject:", b"Reply-To: " + reply_to + b"\r\nSubject:")
    # Without an envelope sender (a pipe without --sender) the reply goes to Reply-To.
    [queued] = send_and_queue("reply@example.com", raw, sender=None)
    assert "bcc" not in header_names(bytes(queued.outbound.raw))
    assert set(queued.to) <= {
        "victim@evil.example",
        "eve@example.org",
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subject=header_values(),
    name=header_values(),
    recipient=st.sampled_from(["reply@example.com", "name@example.com", "templated@example.com"]),
)
def test_no_inbound_header_value_adds_a_header(benign_headers, subject, name, recipient):
    # A raw CR or LF in the inbound bytes ends that inbound header line; what follows
    # is another inbound header, not ours. Keep the hostile bytes inside one line.
    subject, name = (re.sub(rb"[\r\n]", b" ", value) for value in (subject, name))
    raw = inbound(subject=subject or b"x", name=name or b"x")
    for queued in send_and_queue(recipient, raw):
        assert_no_injection(bytes(queued.outbound.raw), benign_headers[recipient])
