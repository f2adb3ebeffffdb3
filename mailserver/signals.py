"""Signals sent by mailserver, as Django sends ``request_started`` and friends."""

from django.dispatch import Signal

#: A message was handled for one recipient and accepted. Sent with ``request`` and ``result``.
mail_received = Signal()
#: A message was refused for one recipient. Sent with ``request`` and ``result``.
mail_rejected = Signal()
#: A bounce or complaint was recorded. Sent with ``bounce`` and ``report``.
bounce_received = Signal()
#: An address was added to the suppression list. Sent with ``suppression``.
address_suppressed = Signal()
#: An outbound recipient accepted a message. Sent with ``message`` and ``recipient``.
mail_sent = Signal()
#: An outbound recipient failed for good. Sent with ``message`` and ``recipient``.
mail_failed = Signal()
