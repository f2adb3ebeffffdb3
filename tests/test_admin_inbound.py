"""The inbound messages admin: list, search, read safely, download, retry."""

import pytest
from django.urls import reverse

from mailserver.models.inbound import InboundMessage
from mailserver.test import MailClient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inbound_mailconf")]

RAW = (
    b"From: Alice <alice@example.org>\r\nTo: accept@example.com\r\n"
    b"Subject: Admin test\r\nMessage-ID: <admin-1@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nPlain words\r\n"
    b"--b\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script><p>Hi</p>\r\n"
    b'--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename="evil.html"\r\n'
    b"\r\n<script>steal()</script>\r\n--b--\r\n"
)


@pytest.fixture
def stored():
    MailClient().send_raw(RAW, sender="alice@example.org", recipients=["accept@example.com"])
    return InboundMessage.objects.get()


def url(name, *args):
    return reverse(f"admin:mailserver_inboundmessage_{name}", args=args)


def test_changelist_filters_and_search(admin_client, stored):
    page = admin_client.get(url("changelist"), {"status": "processed", "q": "Admin test"})
    assert page.status_code == 200
    assert b"accept@example.com" in page.content
    empty = admin_client.get(url("changelist"), {"status": "failed"})
    assert b"Admin test" not in empty.content


def test_detail_page_shows_html_as_escaped_source(admin_client, stored):
    page = admin_client.get(url("change", stored.pk)).content.decode()
    assert "Plain words" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "Subject: Admin test" in page
    assert "evil.html" in page


def test_attachment_and_raw_downloads(admin_client, stored):
    attachment = admin_client.get(url("attachment", stored.pk, 0))
    assert attachment["Content-Type"] == "application/octet-stream"
    assert attachment["Content-Disposition"] == 'attachment; filename="evil.html"'
    assert b"steal()" in attachment.content
    assert admin_client.get(url("attachment", stored.pk, 5)).status_code == 404
    raw = admin_client.get(url("raw", stored.pk))
    assert (raw["Content-Type"], raw.content) == ("message/rfc822", RAW)


def test_retry_action(admin_client, inbound_mailconf):
    inbound_mailconf.failing.add("flaky@example.com")
    MailClient().send_raw(RAW, sender="alice@example.org", recipients=["flaky@example.com"])
    message = InboundMessage.objects.get()
    assert message.status == "failed"
    inbound_mailconf.failing.clear()
    admin_client.post(url("changelist"), {"action": "retry", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.status == "processed"


def test_mark_processed_action(admin_client, inbound_mailconf):
    inbound_mailconf.failing.add("flaky@example.com")
    MailClient().send_raw(RAW, sender="alice@example.org", recipients=["flaky@example.com"])
    message = InboundMessage.objects.get()
    admin_client.post(
        url("changelist"), {"action": "mark_processed", "_selected_action": [message.pk]}
    )
    message.refresh_from_db()
    assert (message.status, inbound_mailconf.calls["flaky@example.com"]) == ("processed", 1)
