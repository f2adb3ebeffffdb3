"""The bounce policy on its own: what each kind of bounce does to the suppression list.

The bounce view's tests (tests/test_bounces_view.py) drive the same policy through
real reports; these call ``record_bounce`` directly, as every source does.
"""

from datetime import timedelta

import pytest
from django.test import override_settings

from mailserver.bounces import policy
from mailserver.bounces.record import record_bounce
from mailserver.models import Bounce, OutboundRecipient, Suppression
from mailserver.outbound import enqueue, send_queued
from mailserver.suppression import is_suppressed
from tests.bounces_fixtures import message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sink")]

WEEK = timedelta(days=7)


def mailed(address: str) -> OutboundRecipient:
    """Send one message to ``address`` through the sink; return its (sent) recipient row."""
    row = enqueue(message(address))
    send_queued()
    recipient = row.recipients.get()
    assert recipient.status == "sent"
    return recipient


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (Bounce.Kind.HARD, Suppression.Reason.BOUNCE),
        (Bounce.Kind.COMPLAINT, Suppression.Reason.COMPLAINT),
        (Bounce.Kind.UNSUBSCRIBE, Suppression.Reason.UNSUBSCRIBE),
        (Bounce.Kind.SOFT, None),  # one soft bounce is below any useful limit
    ],
)
def test_each_kind_suppresses_with_its_own_reason(kind, reason):
    bounce = record_bounce("jo@example.net", kind)
    suppression = Suppression.objects.filter(address="jo@example.net").first()
    if reason is None:
        assert suppression is None
    else:
        assert suppression.reason == reason
        # The suppression says which bounce put the address there.
        assert suppression.source == f"bounce:{bounce.pk}"


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(2, WEEK))
def test_a_delivery_that_later_bounced_does_not_reset_the_soft_count():
    first = mailed("jo@example.net")
    record_bounce("jo@example.net", Bounce.Kind.SOFT, recipient=first)
    second = mailed("jo@example.net")
    # The second delivery was accepted, then bounced too: it is no success.
    record_bounce("jo@example.net", Bounce.Kind.SOFT, recipient=second)
    assert OutboundRecipient.objects.filter(status="sent").count() == 0
    assert is_suppressed("jo@example.net")


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(2, WEEK))
def test_soft_bounces_are_counted_per_address_whatever_its_case():
    record_bounce("Jo@Example.NET", Bounce.Kind.SOFT)
    record_bounce("someone.else@example.net", Bounce.Kind.SOFT)
    assert policy.soft_bounces_since_success("jo@example.net", WEEK) == 1
    record_bounce("jo@example.net", Bounce.Kind.SOFT)
    assert is_suppressed("jo@example.net")
    assert not is_suppressed("someone.else@example.net")


def complaints_only(bounce):
    return Suppression.Reason.COMPLAINT if bounce.kind == Bounce.Kind.COMPLAINT else None


@pytest.mark.parametrize("setting", ["tests.test_bounce_policy.complaints_only", complaints_only])
def test_a_custom_policy_is_a_dotted_path_or_the_callable_itself(setting):
    with override_settings(MAILSERVER_BOUNCE_POLICY=setting):
        record_bounce("hard@example.net", Bounce.Kind.HARD)
        record_bounce("angry@example.net", Bounce.Kind.COMPLAINT)
    assert not is_suppressed("hard@example.net")
    assert is_suppressed("angry@example.net")


def test_a_recorded_bounce_marks_its_recipient_but_a_complaint_does_not():
    bounced, complained = mailed("gone@example.net"), mailed("angry@example.net")
    record_bounce("gone@example.net", Bounce.Kind.HARD, recipient=bounced)
    record_bounce("angry@example.net", Bounce.Kind.COMPLAINT, recipient=complained)
    bounced.refresh_from_db()
    complained.refresh_from_db()
    # A complaint means the mail arrived: the recipient stays sent, the address is suppressed.
    assert (bounced.status, complained.status) == ("bounced", "sent")
    assert is_suppressed("angry@example.net")
