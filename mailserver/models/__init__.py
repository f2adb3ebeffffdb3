"""mailserver's models, one module per area."""
from mailserver.models.inbound import InboundMessage  # noqa: F401
