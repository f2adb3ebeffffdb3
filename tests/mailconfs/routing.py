"""The mailconf of DESIGN.md's routing section, used by tests/test_routing.py."""

from mailserver.routing import include, re_route, route


def new_ticket(request, **kwargs):
    return None


def reply(request, **kwargs):
    return None


def user_mail(request, **kwargs):
    return None


def anywhere(request, **kwargs):
    return None


def catch_all(request, **kwargs):
    return None


mailpatterns = [
    route("help@example.com", new_ticket, name="help"),
    route("ticket-<int:pk>@example.com", reply, name="ticket-reply"),
    route("@lists.example.com", include("tests.mailconfs.lists", namespace="lists")),
    re_route(r"^(?P<user>[a-z0-9.]+)@users\.example\.com$", user_mail, name="user-mail"),
    route("bounces+<str:token>@example.com", "mailserver.views.bounce", name="bounces"),
    route("reply-<signed:token>@example.com", reply, name="signed-reply"),
    route("<uuid:key>@keys.example.com", reply, name="key"),
    route("postmaster", anywhere, name="postmaster"),
    route("@catchall.example.com", catch_all, {"kind": "catch-all"}, name="catch-all"),
    route("@<slug:org>.orgs.example.com", include("tests.mailconfs.lists", namespace="orgs")),
]
