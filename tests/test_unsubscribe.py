"""List-Unsubscribe on bulk mail: the signed mailto address and the RFC 8058 one-click URL."""

import email
import email.policy

import pytest
from django.test import override_settings

from mailserver.bounces import unsubscribe as lists
from mailserver.outbound import enqueue
from mailserver.routing import signing as mail_signing
from mailserver.suppression import is_suppressed
from mailserver.test import MailClient
from tests.bounces_fixtures import message

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("sink"),
]

BOTH = {
    "MAILSERVER_UNSUBSCRIBE_ADDRESS": "unsubscribe+{token}@example.com",
    "MAILSERVER_UNSUBSCRIBE_URL": "https://example.com/mail/unsubscribe/{token}/",
    "ROOT_MAILCONF": "tests.mailconfs.unsubscribe",
}


def headers_of(row):
    return email.message_from_bytes(bytes(row.raw), policy=email.policy.default)


@override_settings(**BOTH)
def test_bulk_mail_gets_both_uris_and_the_one_click_header():
    row = enqueue(message("jo@example.net"), priority="low")
    parsed = headers_of(row)
    token = lists.make_token("jo@example.net")
    assert " ".join(parsed["List-Unsubscribe"].split()) == (
        f"<mailto:unsubscribe+{token}@example.com?subject=unsubscribe>, "
        f"<https://example.com/mail/unsubscribe/{token}/>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("priority", "headers", "to", "added"),
    [
        ("low", {}, ["jo@example.net"], True),
        ("normal", {"Precedence": "bulk"}, ["jo@example.net"], True),
        ("normal", {}, ["jo@example.net"], False),  # a password reset is not bulk
        ("low", {}, ["jo@example.net", "al@example.net"], False),  # whose token?
        ("low", {"List-Unsubscribe": "<mailto:own@example.com>"}, ["jo@example.net"], False),
    ],
)
@override_settings(**BOTH)
def test_which_mail_gets_the_headers(priority, headers, to, added):
    mail = message(*to)
    mail.extra_headers.update(headers)
    row = enqueue(mail, priority=priority)
    parsed = headers_of(row)
    assert ("List-Unsubscribe-Post" in parsed) is added


def test_without_settings_nothing_is_added():
    row = enqueue(message("jo@example.net"), priority="low")
    assert "List-Unsubscribe" not in headers_of(row)


@override_settings(**BOTH)
def test_the_mailto_address_unsubscribes_whatever_the_case():
    token = lists.make_token("jo@example.net")
    [result] = MailClient().send(
        "jo@example.net", f"UNSUBSCRIBE+{token.upper()}@example.com", "unsubscribe"
    )
    assert result.smtp_code == 250
    assert is_suppressed("jo@example.net")


@override_settings(**BOTH)
def test_a_signed_route_unsubscribes_too():
    token = mail_signing.sign("jo@example.net")
    [result] = MailClient().send("jo@example.net", f"leave+{token}@example.com", "unsubscribe")
    assert result.smtp_code == 250
    assert is_suppressed("jo@example.net")


@override_settings(**BOTH)
def test_a_forged_mailto_token_unsubscribes_nobody():
    token = lists.make_token("jo@example.net")
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    [result] = MailClient().send("x@example.org", f"unsubscribe+{forged}@example.com", "hi")
    assert result.smtp_code == 250
    assert not is_suppressed("jo@example.net")


@override_settings(**BOTH)
def test_one_click_post_unsubscribes(client):
    token = lists.make_token("jo@example.net")
    response = client.post(
        f"/mail/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"}, enforce_csrf_checks=True
    )
    assert response.status_code == 200
    assert is_suppressed("jo@example.net")


@override_settings(**BOTH)
def test_get_only_asks(client):
    token = lists.make_token("jo@example.net")
    response = client.get(f"/mail/unsubscribe/{token}/")
    assert response.status_code == 200
    assert b'method="post"' in response.content
    assert not is_suppressed("jo@example.net")


@override_settings(**BOTH)
def test_a_forged_link_is_refused(client):
    response = client.post("/mail/unsubscribe/0jo1234567890/")
    assert response.status_code == 400
