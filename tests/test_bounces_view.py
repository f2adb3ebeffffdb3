"""The bounce view: DSNs and complaints without a VERP token, and the policy they feed."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from mailserver import signals
from mailserver.bounces import policy
from mailserver.models import Bounce, OutboundRecipient
from mailserver.outbound import enqueue, send_queued
from mailserver.suppression import is_suppressed
from mailserver.test import MailClient
from tests.bounces_fixtures import complaint, dsn, message

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("sink"),
]


def bounce_in(raw: bytes):
    [result] = MailClient().send_raw(raw, sender="", recipients=["bounces@example.com"])
    assert result.smtp_code == 250  # a bounce is always accepted
    return result


def mailed(address: str):
    row = enqueue(message(address))
    send_queued()
    return row


@pytest.fixture(autouse=True)
def _mailconf(settings):
    settings.ROOT_MAILCONF = "tests.mailconfs.bounces"


@pytest.mark.parametrize(
    ("raw", "kind", "suppressed"),
    [
        (dsn("jo@example.net", "5.1.1"), "hard", True),
        (dsn("jo@example.net", "4.2.2"), "soft", False),
        (complaint("jo@example.net"), "complaint", True),
    ],
)
def test_a_report_about_someone_we_mailed_is_recorded(raw, kind, suppressed):
    mailed("jo@example.net")
    bounce_in(raw)
    bounce = Bounce.objects.get()
    assert (bounce.address, bounce.kind) == ("jo@example.net", kind)
    assert bounce.inbound_message is not None
    assert bounce.outbound_recipient == OutboundRecipient.objects.get()
    assert is_suppressed("jo@example.net") is suppressed


def test_a_hard_bounce_marks_the_recipient_bounced():
    mailed("jo@example.net")
    bounce_in(dsn("jo@example.net"))
    assert OutboundRecipient.objects.get().status == "bounced"


@pytest.mark.parametrize("raw", [dsn("stranger@example.net"), complaint("stranger@example.net")])
def test_a_report_about_someone_we_never_mailed_suppresses_nobody(raw):
    bounce_in(raw)
    assert Bounce.objects.count() == 0
    assert not is_suppressed("stranger@example.net")


@override_settings(MAILSERVER_SUPPRESS_UNKNOWN_COMPLAINTS=True)
def test_complaints_about_unknown_mail_suppress_when_configured():
    bounce_in(complaint("stranger@example.net"))
    assert is_suppressed("stranger@example.net")


def test_a_delay_notice_is_not_a_bounce():
    mailed("jo@example.net")
    bounce_in(dsn("jo@example.net", "4.4.7", action="delayed"))
    assert Bounce.objects.count() == 0


def test_an_auto_reply_is_not_recorded():
    mailed("jo@example.net")
    raw = (
        b"From: jo@example.net\r\nTo: bounces@example.com\r\nSubject: Out of office\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
    )
    bounce_in(raw)
    assert Bounce.objects.count() == 0


def test_the_signal_carries_the_bounce_and_the_report():
    mailed("jo@example.net")
    heard = []
    signals.bounce_received.connect(lambda **kw: heard.append(kw), weak=False)
    try:
        bounce_in(dsn("jo@example.net"))
    finally:
        signals.bounce_received.receivers.clear()
    [kw] = heard
    assert kw["bounce"].kind == "hard"
    assert kw["report"].recipients[0].status == "5.1.1"


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(3, timedelta(days=7)))
def test_soft_bounces_suppress_at_the_limit():
    mailed("jo@example.net")
    for expected in (False, False, True):
        bounce_in(dsn("jo@example.net", "4.2.2"))
        assert is_suppressed("jo@example.net") is expected


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(2, timedelta(days=7)))
def test_a_later_successful_delivery_resets_the_soft_count():
    first = mailed("jo@example.net")
    bounce_in(dsn("jo@example.net", "4.2.2", message_id=first.message_id))
    mailed("jo@example.net")  # accepted, and never bounced: the mailbox works again
    third = mailed("jo@example.net")
    bounce_in(dsn("jo@example.net", "4.2.2", message_id=third.message_id))
    assert policy.soft_bounces_since_success("jo@example.net", timedelta(days=7)) == 1
    assert not is_suppressed("jo@example.net")


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(2, timedelta(days=7)))
def test_soft_bounces_outside_the_window_do_not_count():
    mailed("jo@example.net")
    bounce_in(dsn("jo@example.net", "4.2.2"))
    Bounce.objects.update(created=timezone.now() - timedelta(days=8))
    bounce_in(dsn("jo@example.net", "4.2.2"))
    assert not is_suppressed("jo@example.net")


def never(bounce):
    return None


@override_settings(MAILSERVER_BOUNCE_POLICY="tests.test_bounces_view.never")
def test_a_custom_policy_replaces_the_default():
    mailed("jo@example.net")
    bounce_in(dsn("jo@example.net"))
    assert Bounce.objects.count() == 1
    assert not is_suppressed("jo@example.net")
