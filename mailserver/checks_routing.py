"""System checks for the mailconf: ``mailserver.E001``, ``E002``, ``W001``, ``W002``.

What is plainly wrong fails at import; these report what only shows once the
whole mailconf is loaded.
"""

from __future__ import annotations

from collections import Counter
from importlib import import_module
from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from mailserver.addresses import split_subaddress
from mailserver.conf import settings as app_settings


def check_routing(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Load ``ROOT_MAILCONF`` and report what would stop mail from being routed."""
    from mailserver.routing.base import get_resolver
    from mailserver.routing.patterns import MailInclude, MailPattern, load_mailpatterns

    mailconf = app_settings.ROOT_MAILCONF
    if not mailconf:
        return [
            Error(
                "ROOT_MAILCONF is not set.",
                hint="Add ROOT_MAILCONF = 'myproject.mailconf' to your settings, naming the "
                "module that holds your mailpatterns.",
                id="mailserver.E001",
            )
        ]
    try:
        module = import_module(mailconf)
    except Exception as exc:  # a check reports a broken mailconf, it does not crash
        return [_unloadable(mailconf, exc)]
    try:
        patterns, _app_name = load_mailpatterns(module)
    except ImproperlyConfigured as exc:
        return [_not_a_list(mailconf, str(exc))]
    for entry in patterns:
        if not isinstance(entry, MailPattern | MailInclude):
            return [_not_a_list(mailconf, f"{entry!r} is not a route() or re_route() pattern.")]
    try:
        resolver = get_resolver(mailconf)
        index = resolver.index()
    except Exception as exc:  # includes are imported here: same as above
        return [_unloadable(mailconf, exc)]
    return _duplicate_names(resolver.routes) + _unreachable(index)


def _unloadable(mailconf: str, exc: Exception) -> Error:
    return Error(
        f"The mailconf {mailconf!r} cannot be loaded: {exc}",
        hint="Check ROOT_MAILCONF and the modules your mailconf includes.",
        id="mailserver.E001",
    )


def _not_a_list(mailconf: str, detail: str) -> Error:
    return Error(
        f"The 'mailpatterns' of {mailconf!r} is not a list of patterns: {detail}",
        hint="Define mailpatterns = [route(...), re_route(...), ...] in the mailconf.",
        id="mailserver.E002",
    )


def _duplicate_names(routes: list) -> list[CheckMessage]:
    counts = Counter(route.view_name for route in routes if route.view_name)
    return [
        Warning(
            f"The mail route name {name!r} is used by {count} routes.",
            hint="reverse() returns the address of the first one; give each route its own name.",
            obj=name,
            id="mailserver.W001",
        )
        for name, count in counts.items()
        if count > 1
    ]


def _unreachable(index: Any) -> list[CheckMessage]:
    """Report routes that no address can reach: invalid literals, or shadowed by earlier ones."""
    from mailserver.addresses import normalize_domain, normalize_local_part
    from mailserver.exceptions import InvalidAddress

    separator = index.mode[1]
    messages = []
    catch_all_order = None  # the first route that takes every address, if any
    domain_catch_alls: dict[str, int] = {}
    for leaf in index.leaves:
        route = leaf.route
        reason = None
        try:
            if leaf.domain_literal is not None:
                normalize_domain(leaf.domain_literal)
            if route.local is not None and route.local.literal is not None:
                normalize_local_part(route.local.literal)
        except InvalidAddress as exc:
            reason = f"it is not a valid address ({exc})"
        if reason is None:
            reason = _shadowed(leaf, index, separator, catch_all_order, domain_catch_alls)
        if reason:
            messages.append(
                Warning(
                    f"The mail route {route.description!r} can never match: {reason}.",
                    hint="Fix or remove the route, or move it above the route that hides it.",
                    obj=route.leaf,
                    id="mailserver.W002",
                )
            )
        if leaf.any_local and leaf.domain_regex is None:
            if leaf.domain_literal is None:
                catch_all_order = leaf.order if catch_all_order is None else catch_all_order
            else:
                domain_catch_alls.setdefault(leaf.domain_literal, leaf.order)
    return messages


def _shadowed(leaf, index, separator, catch_all_order, domain_catch_alls) -> str | None:
    """Return why an earlier route always wins over ``leaf``, or ``None``."""
    if leaf.regex is None and leaf.local_key is not None:
        if leaf.domain_literal is not None:
            first = index.by_address[leaf.local_key, leaf.domain_literal][0]
            earlier = index.by_local.get(leaf.local_key, [])
            if first is not leaf:
                return f"the route {first.route.description!r} above has the same address"
            if earlier and earlier[0].order < leaf.order:
                return f"the route {earlier[0].route.description!r} above takes that address"
        elif leaf.domain_regex is None:
            first = index.by_local[leaf.local_key][0]
            if first is not leaf:
                return f"the route {first.route.description!r} above has the same local part"
        # A catch-all lets whole-local-part routes win only for tagged addresses.
        if split_subaddress(leaf.local_key, separator)[1] is None:
            earlier = [catch_all_order, domain_catch_alls.get(leaf.domain_literal)]
            if any(order is not None and order < leaf.order for order in earlier):
                return "a route above takes every local part of its domain"
    return None
