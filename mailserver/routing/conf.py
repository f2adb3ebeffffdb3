"""The functions a mailconf is written with: ``route()``, ``re_route()``, ``include()``."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from mailserver.routing.patterns import (
    Include,
    MailInclude,
    MailPattern,
    RegexPattern,
    RoutePattern,
)


def include(
    module_or_list: str | ModuleType | list | tuple, namespace: str | None = None
) -> Include:
    """Route to the ``mailpatterns`` of a module (imported on first use) or a list.

    As in Django, ``(patterns, app_name)`` gives a list its app name, and a
    module's ``app_name`` is its default namespace.
    """
    app_name = None
    if isinstance(module_or_list, tuple) and len(module_or_list) == 2:
        module_or_list, app_name = module_or_list
    return Include(module_or_list, namespace=namespace, app_name=app_name)


def route(
    pattern: str,
    view: Callable | str | Include,
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
) -> MailPattern | MailInclude:
    """Route ``local@domain``, ``local`` (any domain) or ``@domain`` to a view or an include.

    ``view`` may be a dotted path, imported only when a message is routed to it.
    """
    return _make(RoutePattern(pattern), view, kwargs, name)


def re_route(
    regex: str,
    view: Callable | str | Include,
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
) -> MailPattern | MailInclude:
    """Route addresses that ``regex`` finds a match in (anchor it with ``^…$``).

    The regex sees the whole address ``local@domain``; under an ``@domain``
    include, only the local part.
    """
    return _make(RegexPattern(regex), view, kwargs, name)


def _make(
    pattern: RoutePattern | RegexPattern,
    view: Callable | str | Include,
    kwargs: dict[str, Any] | None,
    name: str | None,
) -> MailPattern | MailInclude:
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs of mail route {pattern.route!r} must be a dict.")
    if isinstance(view, Include):
        if name is not None:
            raise ImproperlyConfigured(
                f"Mail route {pattern.route!r} includes other patterns and cannot have a "
                "name: name the included routes and reverse them with 'namespace:name'."
            )
        if isinstance(pattern, RegexPattern) or pattern.local is not None:
            raise ImproperlyConfigured(
                f"Mail route {pattern.route!r} cannot include other patterns: include() "
                "goes with '@domain' (the included patterns match the local part) or ''."
            )
        return MailInclude(pattern, view, kwargs)
    if isinstance(view, str) or callable(view):
        return MailPattern(pattern, view, kwargs, name)
    raise TypeError(
        f"The view of mail route {pattern.route!r} must be a callable, a dotted path or "
        f"include(), not {type(view).__name__}."
    )
