"""VERP: a signed return path per recipient, so a bounce names what it is about.

With ``MAILSERVER_VERP = "bounces+{token}@example.com"`` each recipient's copy
is sent with its own envelope sender; the token carries the outbound message
and recipient ids, signed with ``SECRET_KEY``. Headers are not rewritten, only
the envelope. One return path per recipient means one SMTP transaction per
recipient: a message to 50 people is 50 ``MAIL FROM`` (over one connection).

A token is ``<message id>x<recipient id><mac>`` in ``[0-9a-z]``: no padding,
one letter case (MTAs may change the case of a local part), and short (two
10-digit ids make a 33-character token, well under the 64 octets of a local
part, RFC 5321 section 4.5.3.1.1). Import-light: no models.
"""

from __future__ import annotations

import re

from django.utils.crypto import constant_time_compare

from mailserver.conf import settings as app_settings
from mailserver.routing import signing as mail_signing

SALT = "mailserver.bounces.verp"
MAC_LENGTH = 12  # 60 bits
_TOKEN_RE = re.compile(rf"([0-9]+)x([0-9]+)([0-9a-z]{{{MAC_LENGTH}}})")


def make_token(message_id: int, recipient_id: int) -> str:
    """Return the signed token naming one recipient of one outbound message."""
    body = f"{int(message_id)}x{int(recipient_id)}"
    return body + _macs(body)[0]


def read_token(token: str) -> tuple[int, int] | None:
    """Return ``(message_id, recipient_id)`` of a genuine token, else ``None``."""
    match = _TOKEN_RE.fullmatch((token or "").strip().lower())
    if not match:
        return None
    body = f"{match[1]}x{match[2]}"
    if not any(constant_time_compare(match[3], mac) for mac in _macs(body)):
        return None
    return int(match[1]), int(match[2])


def return_path(message_id: int, recipient_id: int) -> str | None:
    """Return the VERP envelope sender for a recipient, or ``None`` when VERP is off."""
    template = app_settings.VERP
    if not template:
        return None
    return template.format(token=make_token(message_id, recipient_id))


def token_from_address(address: str) -> str | None:
    """Return the token part of ``address`` if it has the ``MAILSERVER_VERP`` shape."""
    template = app_settings.VERP
    if not template or not address:
        return None
    before, _, after = template.partition("{token}")
    pattern = re.escape(before) + "([0-9A-Za-z]+)" + re.escape(after)
    match = re.fullmatch(pattern, address.strip().strip("<>"), re.IGNORECASE)
    return match[1] if match else None


def _macs(body: str) -> list[str]:
    return mail_signing._macs(body, salt=SALT, length=MAC_LENGTH)


def deliver_each(deliver, backend, message, recipients) -> object:
    """Deliver ``message`` once per recipient, each with its own return path.

    ``deliver`` is :func:`mailserver.outbound.delivery.deliver`; the
    :class:`~mailserver.backends.base.Delivery` results are merged into one.
    """
    from mailserver.backends.base import Delivery

    merged = Delivery()
    errors, transcripts = [], []
    raw = bytes(message.raw)
    for recipient in recipients:
        sender = return_path(message.pk, recipient.pk) or message.from_email
        one = deliver(backend, sender, [recipient.address], raw)
        merged.replies.update(one.replies)
        merged.poison = merged.poison or one.poison
        if one.error:
            errors.append(one.error)
        if one.transcript:
            transcripts.append(one.transcript)
    merged.error = "\n".join(dict.fromkeys(errors))
    merged.transcript = "\n".join(transcripts)
    return merged
