"""System checks for mailserver's settings (``mailserver.E001`` and on)."""

from django.core import checks

from mailserver.checks_routing import check_routing
from mailserver.ingress.mailboxes.checks import check_mailboxes

checks.register(check_routing, "mailserver")
checks.register(check_mailboxes, "mailserver")
