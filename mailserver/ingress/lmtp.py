"""The LMTP transport (RFC 2033): like SMTP, but one reply per recipient after DATA.

aiosmtpd's ``LMTP`` class only adds LHLO; after DATA it sends whatever
``handle_DATA`` returns. RFC 2033 section 4.2 wants one reply per accepted
recipient, in RCPT order, so the handler returns those lines joined by CRLF.
That is what lets Postfix's or Dovecot's ``lmtp`` client defer, bounce or
deliver each recipient on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailserver.ingress.smtp import SMTPHandler
from mailserver.status import Result


class LMTPHandler(SMTPHandler):
    """aiosmtpd handler for LMTP: per-recipient replies."""

    transport = "lmtp"

    def reply(self, results: Sequence[Result]) -> str:
        return "\r\n".join(result.smtp_reply() for result in results)
