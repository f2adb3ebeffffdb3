"""The patterns a mailconf is made of, as ``route()``, ``re_route()`` and ``include()`` build them.

Everything that is plainly wrong (an unknown converter, two ``@``, an include
under a local part) raises ``ImproperlyConfigured`` here, at import time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from importlib import import_module
from types import ModuleType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from mailserver.addresses import normalize_domain, normalize_local_part
from mailserver.exceptions import InvalidAddress, MailServerConfigurationError
from mailserver.routing.converters import get_converter

_PARAMETER_RE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


class RoutePart:
    """One side of a route string, ``ticket-<int:pk>`` or ``example.com``.

    ``literal`` is the normalised text when the part has no converter; the
    regex is built per matching mode because ``<str>`` depends on the
    subaddress separator and the local part's case rule on a setting.
    """

    def __init__(self, text: str, route: str, is_domain: bool) -> None:
        self.text = text
        self.is_domain = is_domain
        self.segments: list[str | tuple[str, Any]] = []
        position = 0
        for match in _PARAMETER_RE.finditer(text):
            parameter = match["parameter"]
            if not parameter.isidentifier():
                raise ImproperlyConfigured(
                    f"Mail route {route!r} uses parameter name {parameter!r} which isn't a "
                    "valid Python identifier."
                )
            if any(parameter == segment[0] for segment in self._converter_segments()):
                raise ImproperlyConfigured(
                    f"Mail route {route!r} uses the parameter name {parameter!r} twice."
                )
            try:
                converter = get_converter(match["converter"] or "str")
            except KeyError:
                raise ImproperlyConfigured(
                    f"Mail route {route!r} uses invalid converter {match['converter']!r}; "
                    "register it with mailserver.routing.register_converter()."
                ) from None
            self._add_literal(text[position : match.start()])
            self.segments.append((parameter, converter))
            position = match.end()
        self._add_literal(text[position:])
        if any(c in "<>" for s in self.segments if isinstance(s, str) for c in s):
            raise ImproperlyConfigured(f"Mail route {route!r} has an unbalanced '<' or '>'.")

    def _add_literal(self, literal: str) -> None:
        if literal:
            self.segments.append(literal.lower() if self.is_domain else literal)

    def _converter_segments(self) -> list[tuple[str, Any]]:
        return [segment for segment in self.segments if isinstance(segment, tuple)]

    @cached_property
    def literal(self) -> str | None:
        """The normalised text of a part without converters, else ``None``."""
        if self._converter_segments():
            return None
        try:
            if self.is_domain:
                return normalize_domain(self.text)
            return normalize_local_part(self.text)
        except InvalidAddress:
            # Keep it: it can never match, and the routing checks say so (W002).
            return self.text.lower() if self.is_domain else self.text

    @property
    def parameters(self) -> list[str]:
        return [name for name, _ in self._converter_segments()]

    def compile(self, ignore_case: bool) -> tuple[re.Pattern[str], dict[str, Any]]:
        """Return the anchored regex of this part and its converters by group name."""
        parts = []
        converters = {}
        for segment in self.segments:
            if isinstance(segment, str):
                parts.append(re.escape(segment))
            else:
                name, converter = segment
                parts.append(f"(?P<{name}>{converter.regex})")
                converters[name] = converter
        flags = re.IGNORECASE if ignore_case or self.is_domain else 0
        return re.compile("".join(parts), flags), converters

    def __str__(self) -> str:
        return self.text


class RoutePattern:
    """The string given to ``route()``: ``local@domain``, ``local``, ``@domain`` or ``""``."""

    def __init__(self, route: str) -> None:
        if not isinstance(route, str):
            raise TypeError(f"A mail route must be a string, not {type(route).__name__}.")
        self.route = route
        if route.count("@") > 1:
            raise ImproperlyConfigured(f"Mail route {route!r} has more than one '@'.")
        local, at, domain = route.partition("@")
        if at and not domain:
            raise ImproperlyConfigured(
                f"Mail route {route!r} ends with '@': give a domain, or drop the '@' to "
                "match the local part at any domain."
            )
        self.local = RoutePart(local, route, is_domain=False) if local else None
        self.domain = RoutePart(domain, route, is_domain=True) if at else None

    def __str__(self) -> str:
        return self.route


class RegexPattern:
    """The regex of ``re_route()``, searched in the address (under a domain: the local part)."""

    def __init__(self, regex: str) -> None:
        if not isinstance(regex, str):
            raise TypeError(f"A mail route regex must be a string, not {type(regex).__name__}.")
        self.route = regex
        try:
            re.compile(regex)
        except re.error as exc:
            raise ImproperlyConfigured(f"Mail route regex {regex!r} is invalid: {exc}.") from None

    def compile(self, ignore_case: bool) -> re.Pattern[str]:
        return re.compile(self.route, re.IGNORECASE if ignore_case else 0)

    def __str__(self) -> str:
        return self.route


def load_mailpatterns(mailconf: str | ModuleType) -> tuple[list, str | None]:
    """Import ``mailconf`` (a dotted path or a module); return its patterns and ``app_name``."""
    module = mailconf
    if isinstance(module, str):
        try:
            module = import_module(module)
        except ImportError as exc:
            raise MailServerConfigurationError(
                f"The mailconf {mailconf!r} cannot be imported ({exc}): check ROOT_MAILCONF "
                "and your include() calls."
            ) from exc
    patterns = getattr(module, "mailpatterns", None)
    if not isinstance(patterns, list | tuple):
        raise MailServerConfigurationError(
            f"The mailconf {module.__name__!r} must define 'mailpatterns', a list of route() "
            "and re_route() patterns."
        )
    return list(patterns), getattr(module, "app_name", None)


class Include:
    """What ``include()`` returns: patterns loaded on first use, with their namespace."""

    def __init__(
        self,
        source: str | ModuleType | list | tuple,
        namespace: str | None = None,
        app_name: str | None = None,
    ) -> None:
        self.source = source
        self._namespace = namespace
        self._app_name = app_name

    @cached_property
    def _loaded(self) -> tuple[list, str | None, str | None]:
        if isinstance(self.source, list | tuple):
            patterns, app_name = list(self.source), None
        else:
            patterns, app_name = load_mailpatterns(self.source)
        app_name = self._app_name or app_name or self._namespace
        return patterns, app_name, self._namespace or app_name

    @property
    def patterns(self) -> list:
        return self._loaded[0]

    @property
    def app_name(self) -> str | None:
        return self._loaded[1]

    @property
    def namespace(self) -> str | None:
        return self._loaded[2]


class MailPattern:
    """A pattern that routes to a view (Django's ``URLPattern``)."""

    def __init__(
        self,
        pattern: RoutePattern | RegexPattern,
        callback: Callable | str,
        default_args: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.callback = callback
        self.default_args = default_args or {}
        self.name = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pattern.route!r} name={self.name!r}>"


class MailInclude:
    """A pattern whose match hands the rest of the address to included patterns."""

    def __init__(
        self,
        pattern: RoutePattern | RegexPattern,
        include: Include,
        default_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.pattern = pattern
        self.include = include
        self.default_kwargs = default_kwargs or {}

    def __repr__(self) -> str:
        source = self.include.source
        label = source if isinstance(source, str) else getattr(source, "__name__", "[...]")
        return f"<{type(self).__name__} {self.pattern.route!r} -> {label}>"
