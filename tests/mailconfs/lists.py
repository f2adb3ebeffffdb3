"""Patterns included under a domain: written without '@', they match the local part."""

from mailserver.routing import re_route, route


def post(request, **kwargs):
    return None


def subscribe(request, **kwargs):
    return None


app_name = "lists"

mailpatterns = [
    route("post", post, name="post"),
    route("<slug:list>-subscribe", subscribe, name="subscribe"),
    re_route(r"^(?P<list>[a-z]+)-digest$", subscribe, name="digest"),
    route("<str:list>", post, name="list"),
]
