"""A mailconf for the inbound store, the SMTP/LMTP server and the policy server."""

import asyncio
import time
from collections import Counter

from mailserver.models.inbound import InboundMessage
from mailserver.response import EmailRejectResponse, EmailTempFailResponse
from mailserver.routing import route

#: How often each view ran, by recipient.
calls = Counter()
#: What the stored row looked like while the view ran.
stored_while_handling = []
#: Recipients whose view fails until a test removes them.
failing = set()


def accept(request, **kwargs):
    calls[request.recipient] += 1


def check_stored(request):
    calls[request.recipient] += 1
    row = InboundMessage.objects.get(pk=request.inbound.pk)
    stored_while_handling.append((row.status, bytes(row.raw) == request.raw))


def flaky(request):
    calls[request.recipient] += 1
    if request.recipient in failing:
        raise RuntimeError("flaky view failed: secret token 1234")


def reject(request, **kwargs):
    calls[request.recipient] += 1
    return EmailRejectResponse("Not here", code=550, status="5.7.1")


def tempfail(request, **kwargs):
    calls[request.recipient] += 1
    return EmailTempFailResponse("Mailbox busy", code=452, status="4.2.2")


def broken(request, **kwargs):
    raise RuntimeError("secret database password")


def slow(request):
    time.sleep(1)
    calls[request.recipient] += 1


async def async_accept(request):
    await asyncio.sleep(0)
    calls[request.recipient] += 1


mailpatterns = [
    route("accept@example.com", accept, name="accept"),
    route("other@example.com", accept, name="other"),
    route("stored@example.com", check_stored, name="stored"),
    route("flaky@example.com", flaky, name="flaky"),
    route("flaky2@example.com", flaky, name="flaky2"),
    route("reject@example.com", reject, name="reject"),
    route("tempfail@example.com", tempfail, name="tempfail"),
    route("slow@example.com", slow, name="slow"),
    route("async@example.com", async_accept, name="async"),
    # Tagged twins, so end-to-end tests can tell their deliveries apart in a shared log.
    route("accept-<str:tag>@example.com", accept, name="accept-tagged"),
    route("reject-<str:tag>@example.com", reject, name="reject-tagged"),
    route("tempfail-<str:tag>@example.com", tempfail, name="tempfail-tagged"),
    route("broken-<str:tag>@example.com", broken, name="broken-tagged"),
]
