"""RFC 3464 delivery status notifications (and their RFC 6533 UTF-8 form)."""

import re
from email.message import Message

from . import codes, mime
from .report import BOUNCE, DELAYED, FAILED, BouncedRecipient, BounceReport

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
BLANK_LINE_RE = re.compile(r"\r?\n[ \t]*\r?\n")
# RFC 3464 section 2.3.3; anything else (delivered, relayed, expanded) is a success.
FAILURE_ACTIONS = (FAILED, DELAYED)


def status_part(msg: Message) -> Message | None:
    """Return the report's delivery-status part, or None if it is not a DSN."""
    for part in mime.walk(msg):
        if part.get_content_type() in STATUS_TYPES:
            return part
    return None


def applies(msg: Message) -> bool:
    return status_part(msg) is not None


def parse(msg: Message) -> BounceReport | None:
    """Read a DSN: every recipient that failed or was delayed.

    Return None when no recipient failed (a delivery or relay notice) or no
    recipient block can be read: a DSN that reports no failure is not a
    bounce.
    """
    part = status_part(msg)
    if part is None:
        return None
    # The first block holds the per-message fields (RFC 3464 section 2.2),
    # but an MTA that omits it must not lose its first recipient, so every
    # block is read for both kinds of field.
    blocks = status_blocks(part)
    recipients = {}
    for block in blocks:
        recipient = failed_recipient(block)
        if recipient is not None:
            recipients.setdefault(recipient.address.lower(), recipient)
    if not recipients:
        return None
    reporting_mtas = (mime.header_text(block, "Reporting-MTA") for block in blocks)
    return BounceReport(
        kind=BOUNCE,
        recipients=list(recipients.values()),
        original_message_id=mime.original_message_id(msg),
        reporting_mta=mime.typed_value(next((mta for mta in reporting_mtas if mta), "")),
    )


def status_blocks(part: Message) -> list[Message]:
    """Split a delivery-status body into its blocks of fields (RFC 3464 section 2.1).

    The email package pre-splits message/delivery-status but not the
    RFC 6533 global form, nor a status part sent with a transfer encoding,
    so the blocks are always split here from the text.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n\n".join(block_text(block) for block in payload)
    else:
        text = mime.decoded_text(part)
    return [mime.parse_headers(block) for block in BLANK_LINE_RE.split(text) if block.strip()]


def block_text(block: Message | str) -> str:
    if not isinstance(block, Message):
        return str(block)
    lines = [f"{name}: {value}" for name, value in block.raw_items()]
    # The parser keeps what follows a block's first blank line as its body:
    # for message/global-delivery-status that is every other block.  Its
    # raw bytes are asked for, as the text form mangles 8-bit UTF-8.
    body = mime.decoded_text(block)
    if body.strip():
        lines.append("\n" + body)
    return "\n".join(lines)


def failed_recipient(block: Message) -> BouncedRecipient | None:
    """Return the recipient a per-recipient block reports as failed, or None."""
    action = mime.header_text(block, "Action").strip().lower().split(" ", 1)[0]
    status = codes.status_code(mime.header_text(block, "Status"))
    if action and action not in FAILURE_ACTIONS:
        return None
    if not action and status[:1] not in (codes.PERMANENT, codes.TRANSIENT):
        # No Action field at all: only a failure status makes it one.
        return None
    address = None
    for field in ("Final-Recipient", "Original-Recipient"):
        address = mime.normalise_address(mime.typed_value(mime.raw_header(block, field)))
        if address is not None:
            break
    if address is None:
        return None
    diagnostic = mime.collapse(mime.typed_value(mime.header_text(block, "Diagnostic-Code")))
    return BouncedRecipient(
        address=address,
        permanent=is_permanent(action, status, diagnostic),
        status=status,
        diagnostic=diagnostic,
        action=action,
    )


def is_permanent(action: str, status: str, diagnostic: str) -> bool:
    """Decide permanence, erring towards temporary.

    Only "failed" can be permanent, and only when the Status class is 5, or
    Status is missing and the diagnostic's code is 5xx. When Action and
    Status disagree (failed with 4.x.x, as after a queue timeout), the
    failure is treated as temporary.
    """
    if action != FAILED:
        return False
    if status:
        return status.startswith(codes.PERMANENT)
    return codes.failure_class(diagnostic) == codes.PERMANENT
