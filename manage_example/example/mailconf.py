"""Where mail to the example project goes."""

from example import mailviews
from mailserver.routing import route

mailpatterns = [
    route("help@example.com", mailviews.help_request, name="help"),
]
