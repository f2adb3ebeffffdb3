"""Mail views of the example project."""


def help_request(request):
    """Acknowledge a help request by replying to its sender."""
    return request.reply(
        f"Thanks for writing to us about {request.subject!r}.\n\nWe will get back to you soon."
    )
