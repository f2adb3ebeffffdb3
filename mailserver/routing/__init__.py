"""Route inbound mail by address, the way ``django.urls`` routes requests by path."""

from mailserver.exceptions import NoReverseMatch, NoRoute
from mailserver.routing.base import get_resolver, resolve, reverse
from mailserver.routing.conf import include, re_route, route
from mailserver.routing.converters import register_converter
from mailserver.routing.resolvers import Resolver, RouteMatch

__all__ = [
    "NoReverseMatch",
    "NoRoute",
    "Resolver",
    "RouteMatch",
    "get_resolver",
    "include",
    "re_route",
    "register_converter",
    "resolve",
    "reverse",
    "route",
]
