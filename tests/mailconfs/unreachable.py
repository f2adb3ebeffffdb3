"""A mailconf with duplicate names (W001) and routes that can never match (W002)."""

from mailserver.routing import route


def view(request):
    return None


mailpatterns = [
    route("help@example.com", view, name="help"),
    route("help@example.com", view, name="help-again"),
    route("sales@example.com", view, name="help"),
    route("two words@example.com", view, name="spaces"),
    route("x@-bad-.example.com", view, name="bad-domain"),
    route("@catchall.example.com", view, name="catch-all"),
    route("info@catchall.example.com", view, name="info"),
    route("info+news@catchall.example.com", view, name="news"),
]
