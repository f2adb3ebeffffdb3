"""A mailconf with the built-in bounce view on the VERP address."""

from mailserver.routing import route

mailpatterns = [
    route("bounces@example.com", "mailserver.views.bounce", name="bounces"),
    # The token as a route argument, as docs/topics/bounces.rst shows it.
    route("returns+<str:token>@example.com", "mailserver.views.bounce", name="returns"),
]
