"""List-Unsubscribe headers (RFC 2369, RFC 8058) for bulk mail, added at enqueue.

Bulk mail is mail queued with ``priority="low"``, or a message with a
``Precedence: bulk`` or ``Precedence: list`` header. A message that already has
a ``List-Unsubscribe`` header is left alone, and so is one with more than one
recipient: the token names one address, and the raw message is rendered once
for all its recipients.

- ``MAILSERVER_UNSUBSCRIBE_ADDRESS = "unsubscribe+{token}@example.com"`` adds a
  ``mailto:`` URI, answered by :func:`mailserver.views.unsubscribe`; it is left
  out when the token would make the local part longer than 64 octets.
- ``MAILSERVER_UNSUBSCRIBE_URL = "https://example.com/mail/unsubscribe/{token}/"``
  adds an HTTPS URI and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``,
  answered by :func:`mailserver.views.unsubscribe_web` (include
  ``mailserver.urls``).

Tokens are :mod:`mailserver.routing.signing` tokens of the address: signed with
``SECRET_KEY``, lower-case alphanumeric, so they survive MTAs changing case.
"""

from __future__ import annotations

from email.utils import getaddresses

from django.core import signing

from mailserver.conf import settings as app_settings
from mailserver.routing import signing as mail_signing

LOW = 2
BULK_PRECEDENCE = {"bulk", "list", "junk"}


def make_token(address: str) -> str:
    return mail_signing.sign(address.strip().lower())


def read_token(token: str) -> str | None:
    """Return the address a genuine token names, else ``None``."""
    try:
        address = mail_signing.unsign(token or "")
    except signing.BadSignature:
        return None
    return address if "@" in address else None


def is_bulk(message, priority: int) -> bool:
    headers = {k.lower(): str(v) for k, v in message.extra_headers.items()}
    return priority == LOW or headers.get("precedence", "").strip().lower() in BULK_PRECEDENCE


def add_headers(message, priority: int) -> None:
    """Add List-Unsubscribe (and -Post) to a bulk ``message`` for its one recipient."""
    address_template = app_settings.UNSUBSCRIBE_ADDRESS
    url_template = app_settings.UNSUBSCRIBE_URL
    if not (address_template or url_template) or not is_bulk(message, priority):
        return
    if any(k.lower() == "list-unsubscribe" for k in message.extra_headers):
        return
    recipients = [a for _, a in getaddresses([str(r) for r in message.recipients()]) if a]
    if len(recipients) != 1:
        return
    token = make_token(recipients[0])
    uris = []
    if address_template:
        mailto = address_template.format(token=token)
        if len(mailto.rpartition("@")[0].encode()) <= 64:
            uris.append(f"<mailto:{mailto}?subject=unsubscribe>")
    headers = {}
    if url_template:
        uris.append(f"<{url_template.format(token=token)}>")
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if uris:
        headers["List-Unsubscribe"] = ", ".join(uris)
        message.extra_headers = {**message.extra_headers, **headers}


def unsubscribe(address: str, source: str):
    """Put ``address`` on the suppression list as unsubscribed."""
    from mailserver.suppression import suppress

    return suppress(address, "unsubscribe", source=source)
