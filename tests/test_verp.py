"""VERP: each recipient's copy carries a signed return path naming it."""

import pytest
from django.test import override_settings

from mailserver.bounces import verp
from mailserver.models import Bounce, OutboundRecipient
from mailserver.outbound import enqueue, send_queued
from mailserver.suppression import is_suppressed
from mailserver.test import MailClient
from tests.bounces_fixtures import VERP, dsn, message


@pytest.mark.parametrize(
    ("message_id", "recipient_id"), [(1, 1), (42, 4242), (9_999_999_999, 9_999_999_999)]
)
def test_a_token_reads_back_whatever_the_case(message_id, recipient_id):
    token = verp.make_token(message_id, recipient_id)
    assert verp.read_token(token) == (message_id, recipient_id)
    assert verp.read_token(token.upper()) == (message_id, recipient_id)


def test_a_return_path_fits_in_a_local_part():
    with override_settings(MAILSERVER_VERP=VERP):
        address = verp.return_path(9_999_999_999, 9_999_999_999)
    local = address.partition("@")[0]
    assert len(local.encode()) <= 64
    assert local == local.lower()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: "2" + t[1:] if t[0] != "2" else "3" + t[1:],  # another message
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # another MAC
        lambda t: t[:-3],  # cut short
        lambda t: t + "0",
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_a_tampered_token_is_refused(tamper):
    assert verp.read_token(tamper(verp.make_token(1, 2))) is None


def test_a_token_signed_with_another_key_is_refused():
    token = verp.make_token(1, 2)
    with override_settings(SECRET_KEY="another key entirely, long enough to be a key"):
        assert verp.read_token(token) is None


def test_a_token_survives_a_key_rotation():
    token = verp.make_token(1, 2)
    from django.conf import settings

    with override_settings(
        SECRET_KEY="the new key, long enough", SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]
    ):
        assert verp.read_token(token) == (1, 2)


@pytest.mark.parametrize(
    ("address", "token"),
    [
        ("bounces+abc123@example.com", "abc123"),
        ("<BOUNCES+ABC123@EXAMPLE.COM>", "ABC123"),
        ("bounces@example.com", None),
        ("other+abc123@example.com", None),
    ],
)
def test_the_token_is_found_in_an_address_of_the_verp_shape(address, token):
    with override_settings(MAILSERVER_VERP=VERP):
        assert verp.token_from_address(address) == token


def test_without_the_setting_no_return_path_is_made():
    assert verp.return_path(1, 2) is None


@pytest.mark.django_db
@override_settings(MAILSERVER_VERP=VERP)
def test_each_recipient_gets_its_own_envelope_sender(sink):
    row = enqueue(message("a@example.net", "b@example.net"))
    send_queued()
    assert len(sink.messages) == 2  # one SMTP transaction per recipient
    by_recipient = {m.rcpt_tos[0]: m for m in sink.messages}
    for recipient in row.recipients.all():
        received = by_recipient[recipient.address]
        assert received.mail_from == verp.return_path(row.pk, recipient.pk)
        # The headers are not rewritten: the From stays the site's.
        assert received.headers["From"] == "site@example.com"
    assert sink.connections == 1


@pytest.mark.django_db
@override_settings(MAILSERVER_VERP=VERP, ROOT_MAILCONF="tests.mailconfs.bounces")
def test_a_bounce_to_the_return_path_suppresses_its_recipient_and_the_next_mail_is_not_sent(
    sink,
):
    enqueue(message("gone@example.net", "fine@example.net"))
    send_queued()
    sent = {m.rcpt_tos[0]: m.mail_from for m in sink.messages}

    [result] = MailClient().send_raw(
        dsn("gone@example.net"), sender="", recipients=[sent["gone@example.net"]]
    )
    assert result.smtp_code == 250

    gone = OutboundRecipient.objects.get(address="gone@example.net")
    assert gone.status == "bounced"
    assert Bounce.objects.get().outbound_recipient == gone
    assert is_suppressed("gone@example.net")
    assert not is_suppressed("fine@example.net")

    sink.messages.clear()
    later = enqueue(message("gone@example.net", subject="Again"))
    send_queued()
    assert later.recipients.get().status == "suppressed"
    assert sink.messages == []


@pytest.mark.django_db
@override_settings(MAILSERVER_VERP=VERP, ROOT_MAILCONF="tests.mailconfs.bounces")
def test_a_bounce_with_a_tampered_token_changes_nothing(sink):
    enqueue(message("gone@example.net"))
    send_queued()
    [received] = sink.messages
    local, _, domain = received.mail_from.partition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain

    [result] = MailClient().send_raw(dsn("gone@example.net"), sender="", recipients=[forged])

    assert result.smtp_code == 250  # accepted, never trusted
    assert Bounce.objects.count() == 0
    assert OutboundRecipient.objects.get().status == "sent"
    assert not is_suppressed("gone@example.net")


@pytest.mark.django_db
@override_settings(
    MAILSERVER_VERP="returns+{token}@example.com", ROOT_MAILCONF="tests.mailconfs.bounces"
)
def test_the_token_may_come_as_a_route_argument(sink):
    enqueue(message("gone@example.net"))
    send_queued()
    [received] = sink.messages
    assert received.mail_from.startswith("returns+")
    MailClient().send_raw(dsn("gone@example.net"), sender="", recipients=[received.mail_from])
    assert is_suppressed("gone@example.net")
