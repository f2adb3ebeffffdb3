"""What a mail view returns, as an HTTP view returns an ``HttpResponse``."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives

from mailserver.status import Outcome, Refusal, TemporaryRefusal


class EmailResponse(EmailMultiAlternatives):
    """Accept the message and send this mail (through the outbound queue)."""

    outcome = Outcome.ACCEPTED


class EmailIgnoreResponse:
    """Accept the message and send nothing; the same as returning ``None``."""

    outcome = Outcome.IGNORED


class EmailRejectResponse(Refusal):
    """Refuse the message for good: SMTP 5xx, ``readmail`` exit 69."""

    outcome = Outcome.REJECTED

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.code} {self.status} {self.message!r}>"


class EmailTempFailResponse(TemporaryRefusal, EmailRejectResponse):
    """Ask the sender to try again later: SMTP 4xx, ``readmail`` exit 75."""

    outcome = Outcome.TEMPFAIL
