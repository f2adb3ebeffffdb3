"""Helpers for the bounce tests: DSNs and complaints built the way MTAs write them."""

import itertools

from django.core.mail import EmailMessage

VERP = "bounces+{token}@example.com"

_serial = itertools.count(1)


def dsn(recipient: str, status: str = "5.1.1", action: str = "failed", message_id="") -> bytes:
    """Return an RFC 3464 delivery status notification about ``recipient``."""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: bounces@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"Message-ID: <dsn-{next(_serial)}@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} No such user\r\n"
    ).encode() + _returned_headers(recipient, message_id)


def complaint(recipient: str, message_id: str = "") -> bytes:
    """Return an RFC 5965 abuse report (a "this is spam" click) about ``recipient``."""
    return (
        "From: feedback@isp.example.net\r\n"
        "To: bounces@example.com\r\n"
        "Subject: Abuse report\r\n"
        f"Message-ID: <arf-{next(_serial)}@isp.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--B\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\n"
    ).encode() + _returned_headers(recipient, message_id)


def message(*to: str, subject: str = "News") -> EmailMessage:
    return EmailMessage(subject, "Body", "site@example.com", list(to))


def _returned_headers(recipient: str, message_id: str) -> bytes:
    """The returned message's headers, which close every report."""
    return (
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: site@example.com\r\nTo: {recipient}\r\n"
        f"Message-ID: {message_id or '<unknown@example.com>'}\r\n"
        "\r\n--B--\r\n"
    ).encode()
