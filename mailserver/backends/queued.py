"""``QueuedEmailBackend``: every ``send_mail()`` of the site goes to the outbound queue."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class QueuedEmailBackend(BaseEmailBackend):
    """Queue messages instead of sending them; a worker sends them later.

    Set it as ``EMAIL_BACKEND`` (Django 5.2) or as the ``BACKEND`` of a
    ``MAILERS`` alias (Django 6.1+), whose ``OPTIONS`` may set ``priority``.
    ``send_messages()`` returns how many messages were queued.
    """

    def __init__(self, priority: str = "normal", fail_silently: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        from mailserver.outbound.queue import priority_value

        priority_value(priority)  # Fail now, not at the first send.
        self.priority = priority
        self.fail_silently = fail_silently

    def send_messages(self, email_messages) -> int:
        from mailserver.outbound.queue import enqueue_many

        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        try:
            enqueue_many(messages, priority=self.priority)
        except Exception:
            if not self.fail_silently:
                raise
            return 0
        return len(messages)
