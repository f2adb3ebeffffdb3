"""A mailconf for the hardening tests: views that put inbound text into outgoing mail."""

from mailserver.outbound import send_templated_mail
from mailserver.response import EmailResponse
from mailserver.routing import route


def reply(request):
    """Answer with the sender's own words in the subject and body."""
    return request.reply(f"You wrote: {request.text}")


def reply_with_name(request):
    """Put the sender's decoded display name into the reply's subject."""
    return request.reply(f"Hello {request.from_name}", subject=f"Hello {request.from_name}")


def templated(request):
    """Acknowledge with a template whose subject and body quote the inbound mail."""
    send_templated_mail(
        "hardening/ack",
        {"subject": request.subject, "name": request.from_name},
        to=["eve@example.org"],  # the point is the text, not where it goes
        from_email="support@example.com",
    )


async def async_reply(request):
    """The async twin of ``reply``: runmailserver runs it on the event loop."""
    return request.reply("Thanks")


def notify(request):
    """Tell staff, not the sender, about the mail."""
    return EmailResponse("New mail", request.subject, "desk@example.com", ["staff@example.com"])


mailpatterns = [
    route("notify@example.com", notify, name="notify"),
    route("async-desk@example.com", async_reply, name="async-desk"),
    route("reply@example.com", reply, name="reply"),
    route("name@example.com", reply_with_name, name="name"),
    route("templated@example.com", templated, name="templated"),
    # Two deployments of the same autoresponder, for the reply-loop tests.
    route("desk@example.com", reply, name="desk"),
    route("desk@example.net", reply, name="peer-desk"),
]
