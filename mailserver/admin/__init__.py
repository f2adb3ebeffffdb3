"""Admin pages for mailserver's models, one module per area."""

from mailserver.admin import fetch, inbound, outbound, suppression  # noqa: F401
