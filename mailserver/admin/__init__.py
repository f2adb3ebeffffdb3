"""Admin pages for mailserver's models, one module per area."""

from mailserver.admin import inbound, outbound  # noqa: F401
