"""RFC 3834 automatic responses: vacation notices, out-of-office, ticket receipts.

An auto-reply tells us the recipient exists and is away; it is never a
delivery failure.
"""

import re
from email.message import Message
from email.utils import getaddresses

from . import mime
from .report import AUTOREPLY, BouncedRecipient, BounceReport

# RFC 3834 section 5: "auto-replied" marks a response; "auto-generated"
# (newsletters, notifications) and "no" do not.
AUTO_REPLIED = "auto-replied"
# Non-standard headers set by vacation programs and ticket systems.
AUTORESPONDER_HEADERS = ("X-Autoreply", "X-Autorespond")
FALSE_VALUES = ("", "no", "false", "0")
AUTO_REPLY_PRECEDENCE = "auto_reply"

# Subjects that responders put in front of the original subject.  The
# phrase must end in a colon or the subject, so "Out of office on Friday?"
# written by a person does not count.
SUBJECT_RE = re.compile(
    r"^\s*(?:"
    r"auto|auto[ -]?reply|auto[ -]?response|automatic reply|automatic response"
    r"|out of (?:the )?office(?: auto ?reply)?"
    r"|abwesenheitsnotiz|automatische antwort|abwesend"
    r"|r[ée]ponse automatique|absence|absent\(e\)"
    r"|respuesta autom[áa]tica|fuera de la oficina"
    r"|risposta automatica|fuori sede"
    r"|resposta autom[áa]tica|automatisch antwoord|afwezig"
    r")\s*(?::|\uff1a|$)",  # U+FF1A: the CJK full-width colon.
    re.IGNORECASE,
)


def is_autoreply(msg: Message) -> bool:
    auto_submitted = mime.header_text(msg, "Auto-Submitted").strip().lower()
    if re.split(r"[\s;(]", auto_submitted, maxsplit=1)[0] == AUTO_REPLIED:
        return True
    for name in AUTORESPONDER_HEADERS:
        values = mime.raw_headers(msg, name)
        if any(value.strip().lower() not in FALSE_VALUES for value in values):
            return True
    if mime.header_text(msg, "Precedence").strip().lower() == AUTO_REPLY_PRECEDENCE:
        return True
    return bool(SUBJECT_RE.match(mime.header_text(msg, "Subject")))


def parse(msg: Message) -> BounceReport | None:
    """Read an auto-reply as a report about its sender, who got our mail.

    Return None for anything else, and for an auto-reply that names no
    sender.  Call this only once the message is known not to be a bounce:
    bounces carry "Auto-Submitted: auto-replied" too.
    """
    if not is_autoreply(msg):
        return None
    for name in ("From", "Sender", "Reply-To"):
        for _name, address in getaddresses(mime.raw_headers(msg, name)):
            if (address := mime.normalise_address(address)) is not None:
                return BounceReport(
                    kind=AUTOREPLY,
                    recipients=[BouncedRecipient(address=address, permanent=False)],
                    original_message_id=mime.original_message_id(msg, prefer_reply=True),
                )
    return None
