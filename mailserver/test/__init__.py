"""Tools to test mail views the way Django's test client tests web views."""

from mailserver.test.client import MailClient
from mailserver.test.outbox import queued_mail

__all__ = ["MailClient", "queued_mail"]
