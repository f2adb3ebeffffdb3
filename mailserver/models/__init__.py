"""mailserver's models, one module per area."""

from mailserver.models.bounces import Bounce  # noqa: F401
from mailserver.models.fetch import FetchedMessage  # noqa: F401
from mailserver.models.inbound import InboundMessage  # noqa: F401
from mailserver.models.outbound import (  # noqa: F401
    DeliveryAttempt,
    DigestItem,
    OutboundMessage,
    OutboundRecipient,
    ThrottleBucket,
)
from mailserver.models.suppression import Suppression  # noqa: F401
