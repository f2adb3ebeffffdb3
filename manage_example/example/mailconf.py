"""Where mail to the example project goes."""

from mailserver.routing import route

from example import mailviews

mailpatterns = [
    route("help@example.com", mailviews.help_request, name="help"),
]
