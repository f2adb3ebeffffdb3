"""A mailconf with one view per outcome of the reply-code table."""

from mailserver.exceptions import RejectMessage, TemporaryFailure
from mailserver.response import (
    EmailIgnoreResponse,
    EmailRejectResponse,
    EmailResponse,
    EmailTempFailResponse,
)
from mailserver.routing import route

seen = []


def echo(request):
    seen.append(request)
    return request.reply(f"You wrote: {request.text}")


def compose(request):
    return EmailResponse("Thanks", "Got it.", "help@example.com", ["ops@example.com"])


def ignore(request):
    seen.append(request)
    return EmailIgnoreResponse()


def accept(request):
    seen.append(request)


def reject(request):
    return EmailRejectResponse("We do not take mail here", code=554, status="5.7.1")


def tempfail(request):
    return EmailTempFailResponse("Mailbox busy", code=452, status="4.2.2")


def raise_reject(request):
    raise RejectMessage("Not from you")


def raise_tempfail(request):
    raise TemporaryFailure("Later please")


def broken(request):
    raise RuntimeError("secret database password in this text")


def wrong_type(request):
    return "not a response"


async def async_echo(request):
    return request.reply("async reply")


mailpatterns = [
    route("echo@example.com", echo, name="echo"),
    route("compose@example.com", compose, name="compose"),
    route("ignore@example.com", ignore, name="ignore"),
    route("accept@example.com", accept, name="accept"),
    route("reject@example.com", reject, name="reject"),
    route("tempfail@example.com", tempfail, name="tempfail"),
    route("raise-reject@example.com", raise_reject),
    route("raise-tempfail@example.com", raise_tempfail),
    route("broken@example.com", broken, name="broken"),
    route("wrong-type@example.com", wrong_type),
    route("async@example.com", async_echo, name="async"),
]
