"""The one shape every bounce format is normalised into."""

from dataclasses import dataclass, field

# Report kinds, as string constants so they can be stored and compared
# without importing this module.
BOUNCE = "bounce"
COMPLAINT = "complaint"
AUTOREPLY = "autoreply"

# RFC 3464 section 2.3.3 actions that mean "this recipient did not get it".
FAILED = "failed"
DELAYED = "delayed"


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient a report is about.

    ``permanent`` is True only when the report says so without doubt; an
    unknown permanence is reported as temporary so nothing is suppressed on
    a guess.
    """

    address: str
    permanent: bool
    status: str = ""  # RFC 3463 enhanced status code such as "5.1.1", or "".
    diagnostic: str = ""  # The remote server's words, for people.
    action: str = ""  # "failed", "delayed", or "" when the format has none.


@dataclass
class BounceReport:
    """What a bounce, complaint or auto-reply says about the mail we sent."""

    kind: str  # BOUNCE, COMPLAINT or AUTOREPLY.
    recipients: list[BouncedRecipient] = field(default_factory=list)
    original_message_id: str | None = None  # "<id@host>" of the returned message.
    reporting_mta: str = ""

    @property
    def permanent_failures(self) -> list[BouncedRecipient]:
        return [r for r in self.recipients if r.permanent]
