"""The exceptions mailserver raises, in one hierarchy.

Configuration errors subclass Django's ``ImproperlyConfigured`` and deliberately
sit outside ``MailServerError``, so a catch-all for mail problems cannot hide a
broken setting.
"""

from django.core.exceptions import ImproperlyConfigured

from mailserver.status import Refusal, TemporaryRefusal


class MailServerError(Exception):
    """Base class of every mail-handling error mailserver raises."""


class NoRoute(MailServerError, LookupError):
    """No pattern of the mailconf matches an address (SMTP 550 5.1.1, exit 67)."""

    def __init__(self, address: str, tried: list | None = None) -> None:
        super().__init__(f"No mail route matches {address!r}.")
        self.address = address
        self.tried = tried or []


class NoReverseMatch(MailServerError):
    """``reverse()`` found no route with that name and arguments."""


class InvalidAddress(MailServerError, ValueError):
    """A string is not a usable RFC 5321 mailbox address."""


class RejectMessage(Refusal, MailServerError):
    """Raised by a view to refuse a message for good (5xx, exit 69)."""

    def __init__(
        self, message: str | None = None, code: int | None = None, status: str | None = None
    ) -> None:
        Refusal.__init__(self, message, code, status)
        MailServerError.__init__(self, self.message)


class TemporaryFailure(TemporaryRefusal, RejectMessage):
    """Raised by a view to ask the sender to try again later (4xx, exit 75)."""


class MalformedMessage(MailServerError, ValueError):
    """The input is not a message we can accept (SMTP 554, exit 65)."""


class MessageTooLarge(MalformedMessage):
    """The message exceeds ``MAILSERVER_MAX_MESSAGE_SIZE`` (SMTP 552, exit 65)."""


class QueueFull(MailServerError):
    """Enqueueing would exceed ``MAILSERVER_MAX_QUEUE_SIZE``."""


class MailServerConfigurationError(ImproperlyConfigured):
    """A mailserver setting is missing or wrong; the message names the fix."""
