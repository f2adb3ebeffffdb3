"""The hot statements in plain SQL write what the ORM would have written."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailserver import statements
from mailserver.models import OutboundMessage, OutboundRecipient
from mailserver.models.outbound import DeliveryAttempt, MessageStatus, RecipientStatus

pytestmark = pytest.mark.django_db


def queued_message(**fields):
    return OutboundMessage.objects.create(
        message_id=f"<{timezone.now().timestamp()}@test>",
        from_email="site@example.com",
        raw=b"Subject: hi\r\n\r\nbody\r\n",
        next_attempt_at=timezone.now(),
        **fields,
    )


def test_insert_sets_primary_keys_and_applies_field_defaults():
    message = queued_message()
    attempts = [
        DeliveryAttempt(message=message, replies={"a@example.net": [250, "2.0.0 Ok"]}),
        DeliveryAttempt(message=message, error="timed out"),
    ]
    statements.insert(attempts)
    assert all(a.pk and not a._state.adding for a in attempts)
    stored = list(DeliveryAttempt.objects.filter(message=message).order_by("pk"))
    assert [s.pk for s in stored] == [a.pk for a in attempts]
    assert stored[0].replies == {"a@example.net": [250, "2.0.0 Ok"]}  # JSON, as the ORM writes it
    assert stored[1].error == "timed out" and stored[1].replies == {}  # the field's default
    assert stored[0].started_at == attempts[0].started_at  # an aware datetime, adapted


def test_update_sets_fields_and_increments_on_every_row_given():
    message = queued_message()
    first, second, untouched = OutboundRecipient.objects.bulk_create(
        [OutboundRecipient(message=message, address=f"{n}@example.net") for n in "abc"]
    )
    later = timezone.now() + timedelta(minutes=5)
    statements.update(
        OutboundRecipient,
        [first.pk, second.pk],
        {"status": RecipientStatus.DEFERRED, "last_code": 451, "next_attempt_at": later},
        increment=["attempts"],
    )
    rows = {r.pk: r for r in OutboundRecipient.objects.all()}
    for pk in (first.pk, second.pk):
        assert (rows[pk].status, rows[pk].last_code, rows[pk].attempts) == ("deferred", 451, 1)
        assert rows[pk].next_attempt_at == later
    assert (rows[untouched.pk].status, rows[untouched.pk].attempts) == ("queued", 0)


def test_update_stores_a_choice_as_its_value():
    message = queued_message()
    statements.update(OutboundMessage, [message.pk], {"status": MessageStatus.SENT})
    assert OutboundMessage.objects.filter(status="sent").get() == message
