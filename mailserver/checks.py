"""System checks for mailserver's settings (``mailserver.E001`` and on)."""

from django.core import checks

from mailserver.checks_routing import check_routing
from mailserver.ingress.mailboxes.checks import check_mailboxes
from mailserver.outbound.checks import check_outbound

checks.register(check_routing, "mailserver")
checks.register(check_mailboxes, "mailserver")
checks.register(check_outbound, "mailserver")
