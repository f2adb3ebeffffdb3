"""What a mail view returns, as an HTTP view returns an ``HttpResponse``."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives

from mailserver.status import Outcome


class EmailResponse(EmailMultiAlternatives):
    """Accept the message and send this mail (through the outbound queue)."""

    outcome = Outcome.ACCEPTED


class EmailIgnoreResponse:
    """Accept the message and send nothing; the same as returning ``None``."""

    outcome = Outcome.IGNORED


class EmailRejectResponse:
    """Refuse the message for good: SMTP 5xx, ``readmail`` exit 69."""

    outcome = Outcome.REJECTED
    default_code = 550
    default_status = "5.7.1"

    def __init__(
        self, message: str = "Message refused", code: int | None = None, status: str | None = None
    ) -> None:
        self.message = message
        self.code = code or self.default_code
        self.status = status or self.default_status
        if not (400 <= self.code < 600) or self.status[0] != str(self.code)[0]:
            raise ValueError(
                f"{type(self).__name__} needs a 4xx/5xx code whose class matches the "
                f"enhanced status code, got {self.code} {self.status}."
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.code} {self.status} {self.message!r}>"


class EmailTempFailResponse(EmailRejectResponse):
    """Ask the sender to try again later: SMTP 4xx, ``readmail`` exit 75."""

    outcome = Outcome.TEMPFAIL
    default_code = 451
    default_status = "4.3.0"

    def __init__(
        self,
        message: str = "Temporary failure, try again later",
        code: int | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message, code, status)
