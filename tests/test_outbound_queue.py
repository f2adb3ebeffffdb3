"""Putting mail on the queue: what is stored, bulk enqueue, priorities, limits, templates."""

from datetime import timedelta
from email.utils import formataddr
from pathlib import Path

import pytest
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test import override_settings
from django.utils import timezone
from hypothesis import given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mailserver.exceptions import QueueFull
from mailserver.models import OutboundMessage, OutboundRecipient
from mailserver.outbound import enqueue, enqueue_many, send_templated_mail
from mailserver.outbound.claim import claim
from mailserver.outbound.queue import as_bytes
from mailserver.suppression import is_suppressed, suppress, unsuppress

pytestmark = pytest.mark.django_db

TEMPLATES = [
    {
        **settings.TEMPLATES[0],
        "DIRS": [Path(__file__).parent / "templates"],
    }
]


def message(to=("u@example.net",), subject="Hello", **kwargs):
    return EmailMessage(subject, "Body", "Site <site@example.com>", list(to), **kwargs)


def test_message_is_stored_as_raw_bytes_with_one_row_per_recipient():
    row = enqueue(message(to=["a@example.net"], cc=["b@example.net"], bcc=["c@example.net"]))
    assert row.status == "queued" and row.priority_name == "normal"
    assert row.from_email == "site@example.com"  # the envelope sender: no display name
    assert row.message_id.startswith("<") and row.message_id in bytes(row.raw).decode()
    assert [r.address for r in row.recipients.order_by("pk")] == [
        "a@example.net",
        "b@example.net",
        "c@example.net",
    ]
    assert b"c@example.net" not in bytes(row.raw)  # Bcc stays in the envelope only
    assert row.email["Subject"] == "Hello"


def test_expiry_defaults_to_max_age_after_the_send_time():
    send_at = timezone.now() + timedelta(days=1)
    row = enqueue(message(), send_at=send_at)
    assert (row.send_after, row.next_attempt_at) == (send_at, send_at)
    assert row.expires_at == send_at + timedelta(days=5)


def test_enqueue_many_uses_a_few_queries_for_many_messages(django_assert_max_num_queries):
    messages = [message(to=[f"user{n}@example.net"]) for n in range(300)]
    # A few INSERTs per batch of rows (SQLite caps parameters per query), never one per message.
    with django_assert_max_num_queries(15):
        rows = enqueue_many(messages, priority="low")
    assert len(rows) == 300 and OutboundRecipient.objects.count() == 300
    assert {r.priority_name for r in rows} == {"low"}


def test_a_message_id_is_queued_only_once():
    first = enqueue(message(headers={"Message-ID": "<same@example.com>"}))
    again = enqueue(message(headers={"Message-ID": "<same@example.com>"}))
    assert first.pk == again.pk and OutboundMessage.objects.count() == 1


def test_a_message_id_given_twice_in_one_batch_is_queued_once():
    rows = enqueue_many([message(headers={"Message-ID": "<twin@example.com>"}) for _ in range(2)])
    assert rows[0].pk == rows[1].pk and OutboundMessage.objects.count() == 1


def test_a_message_without_message_id_is_not_looked_up_before_queueing(django_assert_num_queries):
    # Its Message-ID is made here, so it cannot be queued already: one INSERT per table and
    # the suppression check, inside the savepoint the test's transaction turns atomic() into.
    with django_assert_num_queries(5) as queries:
        enqueue(message())
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SAVEPOINT", "INSERT", "SELECT", "INSERT", "RELEASE"]


@pytest.mark.parametrize("priority", ["urgent", 7])
def test_unknown_priority_is_refused(priority):
    with pytest.raises(ValueError, match="'high', 'normal' or 'low'"):
        enqueue(message(), priority=priority)


@override_settings(MAILSERVER_MAX_QUEUE_SIZE=3)
def test_queue_full_refuses_past_the_cap():
    enqueue_many([message(subject=str(n)) for n in range(3)])
    with pytest.raises(QueueFull, match="MAILSERVER_MAX_QUEUE_SIZE = 3"):
        enqueue(message(subject="one too many"))
    assert OutboundMessage.objects.count() == 3
    OutboundMessage.objects.filter(subject="0").update(status="sent")
    enqueue(message(subject="fits again"))


def test_suppressed_recipients_are_recorded_at_enqueue():
    suppress("Gone@Example.net", "bounce", source="test")
    assert is_suppressed("gone@example.net")
    row = enqueue(message(to=["gone@example.net", "here@example.net"]))
    assert dict(row.recipients.values_list("address", "status")) == {
        "gone@example.net": "suppressed",
        "here@example.net": "queued",
    }
    only_gone = enqueue(message(to=["gone@example.net"]))
    assert only_gone.status == "failed"
    assert unsuppress("gone@example.net") and not is_suppressed("gone@example.net")


def test_expired_suppression_no_longer_applies():
    suppress("old@example.net", "bounce", expires_at=timezone.now() - timedelta(seconds=1))
    assert not is_suppressed("old@example.net")


@override_settings(TEMPLATES=TEMPLATES)
def test_send_templated_mail_renders_subject_text_and_html():
    row = send_templated_mail(
        "outbound/welcome",
        {"name": "Ada"},
        "ada@example.net",
        attachments=[("terms.txt", "Be nice.", "text/plain")],
        priority="high",
    )
    parsed = row.email
    assert parsed["Subject"] == "Welcome, Ada!"
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello Ada, your account is ready."
    assert "<b>Ada</b>" in parsed.get_body(("html",)).get_content()
    [attachment] = parsed.iter_attachments()
    assert (attachment.get_filename(), row.priority_name) == ("terms.txt", "high")


@override_settings(TEMPLATES=TEMPLATES)
def test_send_templated_mail_without_html_template_is_text_only():
    row = send_templated_mail("outbound/plain", {"name": "Bo"}, ["bo@example.net"])
    assert row.email.get_content_type() == "text/plain"


def test_scheduled_mail_is_not_claimed_before_its_time():
    enqueue(message(subject="later"), send_at=timezone.now() + timedelta(hours=1))
    now_row = enqueue(message(subject="now"))
    assert [m.pk for m in claim("w", 10)] == [now_row.pk]


def test_claim_takes_high_before_normal_before_low():
    low = enqueue(message(subject="low"), priority="low")
    normal = enqueue(message(subject="normal"))
    high = enqueue(message(subject="high"), priority="high")
    assert [m.pk for m in claim("w", 10)] == [high.pk, normal.pk, low.pk]


def test_bulk_mail_cannot_starve_a_password_reset():
    enqueue_many([message(subject=f"news {n}") for n in range(50)], priority="low")
    reset = enqueue(message(subject="reset"), priority="high")
    assert claim("w", 10)[0].pk == reset.pk


def test_aged_low_priority_mail_gets_a_share_under_constant_high_load():
    old_low = enqueue(message(subject="old low"), priority="low")
    OutboundMessage.objects.filter(pk=old_low.pk).update(
        next_attempt_at=timezone.now() - timedelta(hours=1)
    )
    enqueue_many([message(subject=f"high {n}") for n in range(30)], priority="high")
    batch = claim("w", 10)
    assert old_low.pk in [m.pk for m in batch]
    assert sum(m.priority_name == "high" for m in batch) == 9


def test_claimed_messages_are_leased_and_skipped_by_others():
    enqueue_many([message(subject=str(n)) for n in range(4)])
    mine = claim("worker-a", 3)
    theirs = claim("worker-b", 10)
    assert len(mine) == 3 and len(theirs) == 1
    assert {m.lease_owner for m in OutboundMessage.objects.filter(status="sending")} == {
        "worker-a",
        "worker-b",
    }


def test_an_expired_lease_is_taken_over():
    enqueue(message())
    [taken] = claim("dead-worker", 10)
    assert claim("other", 10) == []
    OutboundMessage.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    [again] = claim("other", 10)
    assert again.pk == taken.pk and again.lease_owner == "other"


def test_html_alternative_is_kept():
    mail = EmailMultiAlternatives("s", "text", "a@example.com", ["u@example.net"])
    mail.attach_alternative("<p>html</p>", "text/html")
    row = enqueue(mail)
    assert row.email.get_body(("html",)).get_content().strip() == "<p>html</p>"


header_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=120
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    subject=header_text,
    name=header_text,
    note=header_text,
    local_parts=st.lists(st.from_regex(r"[a-z0-9._+-]{1,30}", fullmatch=True), min_size=1),
    html=st.booleans(),
)
def test_rendering_writes_the_same_bytes_as_the_stdlib(subject, name, note, local_parts, html):
    # Short plain header lines skip compat32's folding machinery (the cost of a bulk
    # enqueue); every other line is folded as before, so the bytes must not change.
    message = EmailMultiAlternatives(
        subject,
        "Body",
        formataddr((name, "site@example.com")),
        [f"{local}@example.net" for local in local_parts],
        headers={"X-Note": note},
    )
    if html:
        message.attach_alternative("<p>Body</p>", "text/html")
    try:
        mime = message.message()
    except ValueError:  # Django 6's email API refuses any line break in a header, \x1e too
        reject()
    assert as_bytes(mime) == mime.as_bytes()
