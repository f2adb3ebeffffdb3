"""RFC 5965 abuse feedback reports (ARF): a recipient complained."""

from email.message import Message
from email.utils import getaddresses

from . import mime
from .report import COMPLAINT, BouncedRecipient, BounceReport

FEEDBACK_TYPE = "message/feedback-report"
# RFC 6430: the recipient says the message is wanted; nothing to act on.
NOT_SPAM = "not-spam"


def feedback_part(msg: Message) -> Message | None:
    for part in mime.walk(msg):
        if part.get_content_type() == FEEDBACK_TYPE:
            return part
    return None


def applies(msg: Message) -> bool:
    return feedback_part(msg) is not None


def parse(msg: Message) -> BounceReport | None:
    """Read a feedback report as a complaint by the original recipient.

    The recipient is the report's Original-Rcpt-To (RFC 5965 section 3.2),
    else the To of the returned message.  Many providers redact both; the
    report is still returned, with no recipients, when the original
    Message-ID identifies what was complained about.  A "not-spam" report
    is not a complaint and gives None.
    """
    part = feedback_part(msg)
    if part is None:
        return None
    fields = feedback_fields(part)
    feedback_type = mime.header_text(fields, "Feedback-Type").strip().lower()
    if feedback_type == NOT_SPAM:
        return None
    addresses = mime.raw_headers(fields, "Original-Rcpt-To")
    if not addresses and (original := mime.returned_headers(msg)) is not None:
        addresses = [mime.raw_header(original, "To")]
    found = {}  # A dict keeps the order and drops repeats.
    for _name, address in getaddresses(addresses):
        if (address := mime.normalise_address(address)) is not None:
            found[address] = None
    recipients = [
        BouncedRecipient(address=address, permanent=True, diagnostic=feedback_type)
        for address in found
    ]
    message_id = mime.original_message_id(msg)
    if not recipients and message_id is None:
        return None
    return BounceReport(
        kind=COMPLAINT,
        recipients=recipients,
        original_message_id=message_id,
        reporting_mta=mime.typed_value(mime.header_text(fields, "Reporting-MTA")),
    )


def feedback_fields(part: Message) -> Message:
    """Return the report's fields; the parser reads message/* parts as headers."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return mime.parse_headers(mime.decoded_text(part))
