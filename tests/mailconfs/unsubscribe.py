"""A mailconf with the built-in unsubscribe view, both ways of routing it."""

from mailserver.routing import route

mailpatterns = [
    route("unsubscribe@example.com", "mailserver.views.unsubscribe"),
    route("leave+<signed:address>@example.com", "mailserver.views.unsubscribe"),
]
