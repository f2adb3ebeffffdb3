"""System checks for mailserver's settings (``mailserver.E001`` and on)."""

from django.core import checks

from mailserver.checks_routing import check_routing

checks.register(check_routing, "mailserver")
