"""The inbound message a mail view receives, as a web view receives an ``HttpRequest``."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mailserver.addresses import normalize_address
from mailserver.conf import settings as app_settings
from mailserver.mime.body import Attachment, Body, parse_body
from mailserver.mime.headers import (
    HeaderMap,
    clean,
    parse_addresses,
    parse_date,
    parse_message_ids,
)

if TYPE_CHECKING:
    from mailserver.response import EmailResponse

__all__ = ["Attachment", "EmailRequest"]

# RFC 3834 section 2: senders whose mail is a notification, never a conversation.
_DAEMON_LOCAL_PARTS = {"mailer-daemon"}
_REPORT_LOCAL_PARTS = {"mailer-daemon", "postmaster"}
_BULK_PRECEDENCE = {"bulk", "junk", "list"}
_REPLY_PREFIX = re.compile(r"\s*re\s*:", re.IGNORECASE)
_KEYWORD = re.compile(r"\s*([A-Za-z0-9-]*)")
_CONTENT_TYPE = re.compile(r"\s*([^;\s]*)")
_REPORT_TYPE = re.compile(r"""report-type\s*=\s*"?([\w.-]+)""", re.IGNORECASE)


class _ParsedMessage:
    """The parse state of one message, shared by its per-recipient requests.

    The header section and the body are parsed separately and only when first asked
    for: reading ``.subject`` never touches the body.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.parsed_body: Body | None = None
        self._lock = threading.Lock()

    @cached_property
    def headers(self) -> HeaderMap:
        return HeaderMap.from_bytes(self.raw)

    @property
    def body(self) -> Body:
        # A lock, not just cached_property: SMTP hands one message to several worker
        # threads (one per recipient), and it must still be parsed once.
        if self.parsed_body is None:
            with self._lock:
                if self.parsed_body is None:
                    self.parsed_body = parse_body(self.raw, app_settings.MAX_MIME_PARTS)
        return self.parsed_body

    def addresses(self, name: str) -> list[tuple[str, str]]:
        return [pair for value in self.headers.get_raw(name) for pair in parse_addresses(value)]

    def message_ids(self, name: str) -> list[str]:
        return [
            msg_id for value in self.headers.get_raw(name) for msg_id in parse_message_ids(value)
        ]


class EmailRequest:
    """An inbound message and its envelope, as a mail view sees it.

    Everything is parsed lazily and at most once: header attributes read only the
    header section, body attributes (``text``, ``html``, ``attachments``,
    ``message``) parse the whole message with flanker, or with Python's ``email``
    package when flanker cannot. No attribute raises, whatever the bytes.

    Addresses (``from_email``, ``to``, ``cc``, ``header_recipients``) are bare
    addr-specs (``"jane@example.com"``), with display names in ``from_name``.
    Missing text headers read as ``""``, missing lists as ``[]``.
    """

    def __init__(
        self,
        raw: bytes,
        *,
        envelope_from: str | None = None,
        recipients: Sequence[str] = (),
        recipient: str | None = None,
        peer: str | None = None,
        helo: str | None = None,
        transport: str = "test",
        inbound: Any = None,
    ) -> None:
        self.raw = bytes(raw)
        # None means "not known" (a pipe without --sender); "" is the null sender <>.
        self.envelope_from = None if envelope_from is None else _strip_brackets(envelope_from)
        self.recipients = list(recipients) or ([recipient] if recipient else [])
        self.recipient = recipient if recipient is not None else next(iter(self.recipients), None)
        self.peer = peer
        self.helo = helo
        self.transport = transport
        self.inbound = inbound
        #: The ``RouteMatch`` of ``recipient``, set by the handler.
        self.resolver_match: Any = None
        self._parsed = _ParsedMessage(self.raw)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.transport} from={self.envelope_from!r} "
            f"to={self.recipient!r}>"
        )

    def for_recipient(self, address: str) -> EmailRequest:
        """Return a copy for one envelope recipient that shares the parsed message."""
        request = copy.copy(self)
        request.recipient = address
        request.resolver_match = None
        return request

    # Routing -------------------------------------------------------------------------

    @property
    def subaddress(self) -> str | None:
        """The ``tag`` of ``user+tag@...`` as the resolver matched it, else ``None``."""
        return getattr(self.resolver_match, "subaddress", None)

    # Header attributes -----------------------------------------------------------------

    @property
    def headers(self) -> HeaderMap:
        """Case-insensitive mapping of RFC 2047-decoded header values; see ``get_all()``."""
        return self._parsed.headers

    @property
    def subject(self) -> str:
        return self.headers.get("Subject", "")

    @property
    def from_email(self) -> str:
        """The address of the (first) From mailbox, ``""`` if there is none."""
        return next(iter(self._parsed.addresses("From")), ("", ""))[1]

    @property
    def from_name(self) -> str:
        """The decoded display name of the From mailbox, ``""`` if there is none."""
        return next(iter(self._parsed.addresses("From")), ("", ""))[0]

    @property
    def to(self) -> list[str]:
        return [address for _, address in self._parsed.addresses("To")]

    @property
    def cc(self) -> list[str]:
        return [address for _, address in self._parsed.addresses("Cc")]

    @property
    def reply_to(self) -> list[str]:
        return [address for _, address in self._parsed.addresses("Reply-To")]

    @property
    def header_recipients(self) -> list[str]:
        """To and Cc addresses without duplicates: recipients when there's no envelope."""
        seen: dict[str, str] = {}
        for address in self.to + self.cc:
            seen.setdefault(address.lower(), address)
        return list(seen.values())

    @property
    def message_id(self) -> str:
        """The Message-ID with its angle brackets (``"<id@host>"``), ``""`` if none."""
        return next(iter(self._parsed.message_ids("Message-ID")), "")

    @property
    def in_reply_to(self) -> str:
        return next(iter(self._parsed.message_ids("In-Reply-To")), "")

    @property
    def references(self) -> list[str]:
        return self._parsed.message_ids("References")

    @property
    def date(self) -> datetime | None:
        """The Date header as an aware datetime, ``None`` if missing or unreadable."""
        value = self.headers.get("Date")
        return parse_date(value) if value else None

    @property
    def return_path(self) -> str | None:
        """The envelope sender, or the Return-Path header if the transport had none."""
        if self.envelope_from is not None:
            return self.envelope_from
        values = self.headers.get_raw("Return-Path")
        return _strip_brackets(clean(values[0])) if values else None

    @property
    def is_bounce(self) -> bool:
        """Whether this is a delivery report (a bounce), which must never be answered.

        True for the null sender ``<>``, a ``MAILER-DAEMON`` sender, and delivery
        status reports (``multipart/report; report-type=delivery-status`` or
        ``message/delivery-status``), also when they come from ``postmaster``.
        """
        if self.return_path == "":
            return True
        senders = [self.return_path or "", self.from_email]
        if any(_local_part(sender) in _DAEMON_LOCAL_PARTS for sender in senders):
            return True
        value = self.headers.get("Content-Type", "")
        content_type = _CONTENT_TYPE.match(value).group(1).lower()
        if content_type == "message/delivery-status":
            return True
        if content_type == "multipart/report":
            report_type = _REPORT_TYPE.search(value)
            if report_type and report_type.group(1).lower() == "delivery-status":
                return True
            return any(_local_part(sender) in _REPORT_LOCAL_PARTS for sender in senders)
        return False

    @property
    def is_auto_submitted(self) -> bool:
        """Whether the message was sent by a program (RFC 3834), so not to be answered.

        True for ``Auto-Submitted`` other than ``no``, ``Precedence: bulk``, ``junk``
        or ``list``, and the ``X-Autoreply``/``X-Autorespond`` headers.
        """
        headers = self.headers
        # RFC 3834 section 5: a keyword, then optional parameters and comments.
        auto_submitted = _KEYWORD.match(headers.get("Auto-Submitted", "")).group(1).lower()
        if auto_submitted and auto_submitted != "no":
            return True
        if headers.get("Precedence", "").strip().lower() in _BULK_PRECEDENCE:
            return True
        return "X-Autoreply" in headers or "X-Autorespond" in headers

    # Body attributes -------------------------------------------------------------------

    @property
    def message(self) -> Any:
        """The parsed MIME tree: a flanker ``MimePart``, or, for the messages flanker
        cannot read, the ``email.message.EmailMessage`` of Python's parser.

        flanker is given the message decoded as UTF-8 with surrogate escapes (so that
        each part is decoded with its own charset), so its ``to_string()`` is ``str``.
        ``None`` only if both parsers failed, when ``text`` holds the raw body.
        """
        return self._parsed.body.message

    @property
    def text(self) -> str:
        """The plain-text body (inline text/plain parts joined), ``""`` if none."""
        return self._parsed.body.text

    @property
    def html(self) -> str:
        """The first inline text/html part, ``""`` if none."""
        return self._parsed.body.html

    @property
    def attachments(self) -> list[Attachment]:
        """Attached and inline files, and forwarded messages (``message/rfc822``)."""
        return list(self._parsed.body.attachments)

    # Replying --------------------------------------------------------------------------

    def reply(self, body: str, html: str | None = None, **kwargs: Any) -> EmailResponse:
        """Return (not send) an answer to the sender, threaded and marked auto-replied.

        It goes to the envelope sender (RFC 3834 section 4), else to Reply-To, else to
        From; its From is the address the message was sent to. Keyword arguments are
        those of ``EmailResponse`` and override the defaults. Every value taken from the
        inbound message is stripped of control characters, so it cannot add headers.
        """
        from mailserver.response import EmailResponse

        headers = {
            "Auto-Submitted": "auto-replied",
            **self._threading_headers(),
            **(kwargs.pop("headers", None) or {}),
        }
        address = self._reply_address()
        response = EmailResponse(
            subject=kwargs.pop("subject", None) or _reply_subject(self.subject),
            body=body,
            from_email=kwargs.pop("from_email", None) or _sanitize_address(self.recipient),
            to=kwargs.pop("to", None) or ([address] if address else []),
            headers=headers,
            **kwargs,
        )
        if html is not None:
            response.attach_alternative(html, "text/html")
        return response

    def _reply_address(self) -> str | None:
        candidates = [self.return_path or "", *self.reply_to, self.from_email]
        return next(filter(None, map(_sanitize_address, candidates)), None)

    def _threading_headers(self) -> dict[str, str]:
        # RFC 5322 section 3.6.4: the parent's References (or In-Reply-To) plus its id.
        message_id = self.message_id
        if not message_id:
            return {}
        references = self.references or ([self.in_reply_to] if self.in_reply_to else [])
        if message_id not in references:
            references.append(message_id)
        return {"In-Reply-To": message_id, "References": " ".join(references)}


def _strip_brackets(address: str) -> str:
    return address.strip().removeprefix("<").removesuffix(">").strip()


def _local_part(address: str) -> str:
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def _sanitize_address(address: str | None) -> str | None:
    # An address with whitespace or control characters is someone's attempt at header
    # injection (or broken beyond use): skip it rather than repair it.
    if not address or "@" not in address or clean(address) != address:
        return None
    if any(char.isspace() for char in address):
        return None
    # Nor may it be one the reply cannot be rendered with: the failure would come at
    # send time, and the sender would be asked to retry forever.
    from email.errors import MessageError

    from django.core.mail import EmailMessage

    try:
        normalize_address(address)
        EmailMessage(to=[address]).message()  # render it as the reply will be rendered
    except (ValueError, MessageError):  # InvalidAddress and UnicodeError are ValueErrors
        return None
    return address


def _reply_subject(subject: str) -> str:
    subject = clean(subject)
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}".strip()
