"""A mailconf with the built-in bounce view on the VERP address."""

from mailserver.routing import route

mailpatterns = [
    route("bounces@example.com", "mailserver.views.bounce", name="bounces"),
]
