"""Tools to test mail views the way Django's test client tests web views."""

from mailserver.test.client import MailClient

__all__ = ["MailClient"]
