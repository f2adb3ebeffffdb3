"""Resolve addresses to views, and names back to addresses.

A :class:`Resolver` flattens its pattern tree once into leaves numbered in
list order, then indexes them by literal address, literal domain and literal
local part. Whatever has a converter or regex in its domain goes in a
fallback list. Resolution takes the lowest-numbered leaf that matches among
the few candidates, so the first matching pattern in list order still wins,
exactly as if every pattern had been tried in turn (:class:`LinearResolver`
does that, and the tests hold the two to the same answers).
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.regex_helper import normalize

from mailserver.addresses import normalize_address, split_address, split_subaddress
from mailserver.conf import settings as app_settings
from mailserver.exceptions import (
    InvalidAddress,
    MailServerConfigurationError,
    NoReverseMatch,
    NoRoute,
)
from mailserver.routing.patterns import MailInclude, MailPattern, RegexPattern, RoutePart

#: How a mailconf is matched: (local parts are case-sensitive, subaddress separator).
Mode = tuple[bool, str | None]


def current_mode() -> Mode:
    return bool(app_settings.CASE_SENSITIVE_LOCALPART), app_settings.SUBADDRESS_SEPARATOR or None


class RouteMatch:
    """The result of :func:`resolve`, attached to the request as ``resolver_match``."""

    def __init__(
        self,
        callback: Callable | str,
        args: tuple,
        kwargs: dict[str, Any],
        route_name: str | None,
        namespaces: Iterable[str],
        app_names: Iterable[str],
        address: str,
        subaddress: str | None,
        route: str,
    ) -> None:
        self._callback = callback
        self.args = args
        self.kwargs = kwargs
        self.route_name = route_name
        self.namespaces = [ns for ns in namespaces if ns]
        self.namespace = ":".join(self.namespaces)
        self.app_names = [name for name in app_names if name]
        self.app_name = ":".join(self.app_names)
        self.view_name = ":".join([*self.namespaces, route_name]) if route_name else None
        self.address = address
        self.subaddress = subaddress
        self.route = route

    @property
    def func(self) -> Callable:
        """The view; a dotted path is imported now, not when the mailconf loads."""
        if isinstance(self._callback, str):
            try:
                view = import_string(self._callback)
            except ImportError as exc:
                raise MailServerConfigurationError(
                    f"The view {self._callback!r} of mail route {self.route!r} cannot be "
                    f"imported: {exc}"
                ) from exc
            if not callable(view):
                raise MailServerConfigurationError(
                    f"The view {self._callback!r} of mail route {self.route!r} is not callable."
                )
            self._callback = view
        return self._callback

    def __getitem__(self, index: int) -> Any:
        return (self.func, self.args, self.kwargs)[index]

    def __repr__(self) -> str:
        return (
            f"RouteMatch(address={self.address!r}, route={self.route!r}, "
            f"view_name={self.view_name!r}, args={self.args!r}, kwargs={self.kwargs!r}, "
            f"subaddress={self.subaddress!r})"
        )


class _Route:
    """A leaf of the pattern tree with everything its includes added, in list order."""

    def __init__(
        self,
        order: int,
        chain: tuple,
        domain: RoutePart | None,
        defaults: dict[str, Any],
        namespaces: tuple[str, ...],
        app_names: tuple[str, ...],
    ) -> None:
        leaf = chain[-1]
        pattern = leaf.pattern
        self.order = order
        self.chain = chain
        self.leaf = leaf
        self.name = leaf.name
        self.callback = leaf.callback
        self.defaults = {**defaults, **leaf.default_args}
        self.namespaces = namespaces
        self.app_names = app_names
        self.view_name = ":".join([*namespaces, leaf.name]) if leaf.name else None
        self.regex = pattern if isinstance(pattern, RegexPattern) else None
        # A regex sees the local part once an include took the domain, else the address.
        self.regex_on_local = self.regex is not None and domain is not None
        self.domain = domain if self.regex else (domain or pattern.domain)
        self.local = None if self.regex else pattern.local
        self.description = _describe(chain)


def _describe(chain: tuple) -> str:
    domain = ""
    local = ""
    for entry in chain:
        pattern = entry.pattern
        if isinstance(pattern, RegexPattern):
            local = pattern.route
        else:
            domain = str(pattern.domain) if pattern.domain else domain
            local = str(pattern.local) if pattern.local else local
    return f"{local}@{domain}" if domain else local


def flatten(patterns: Iterable) -> list[_Route]:
    """Number every leaf of ``patterns`` in the order a linear search would try it."""
    routes: list[_Route] = []
    _flatten(patterns, (), None, {}, (), (), routes)
    return routes


def _flatten(patterns, chain, domain, defaults, namespaces, app_names, routes) -> None:
    for entry in patterns:
        if isinstance(entry, MailPattern):
            pattern = entry.pattern
            if domain is not None and not isinstance(pattern, RegexPattern) and pattern.domain:
                raise ImproperlyConfigured(
                    f"Mail route {pattern.route!r} is included under '@{domain}', which already "
                    "matched the domain: write it without '@'."
                )
            routes.append(
                _Route(len(routes), (*chain, entry), domain, defaults, namespaces, app_names)
            )
        elif isinstance(entry, MailInclude):
            include = entry.include
            inner_domain = entry.pattern.domain
            if domain is not None and inner_domain is not None:
                raise ImproperlyConfigured(
                    f"Mail route {entry.pattern.route!r} is included under '@{domain}', which "
                    "already matched the domain: include it with route('', ...)."
                )
            _flatten(
                include.patterns,
                (*chain, entry),
                inner_domain or domain,
                {**defaults, **entry.default_kwargs},
                (*namespaces, include.namespace) if include.namespace else namespaces,
                (*app_names, include.app_name) if include.app_name else app_names,
                routes,
            )
        else:
            raise ImproperlyConfigured(
                f"{entry!r} in mailpatterns is not a pattern: use route() or re_route()."
            )


class _Leaf:
    """A :class:`_Route` compiled for one matching mode."""

    __slots__ = (
        "any_local",
        "domain_converters",
        "domain_literal",
        "domain_regex",
        "local_converters",
        "local_key",
        "local_regex",
        "order",
        "regex",
        "regex_on_local",
        "route",
    )

    def __init__(self, route: _Route, mode: Mode) -> None:
        case_sensitive, _separator = mode
        self.route = route
        self.order = route.order
        self.domain_literal = self.domain_regex = self.domain_converters = None
        self.local_key = self.local_regex = self.local_converters = None
        self.regex = None
        self.regex_on_local = route.regex_on_local
        if route.domain is not None:
            self.domain_literal = route.domain.literal
            if self.domain_literal is None:
                self.domain_regex, self.domain_converters = route.domain.compile(True)
        if route.regex is not None:
            self.regex = route.regex.compile(not case_sensitive)
        elif route.local is not None:
            literal = route.local.literal
            if literal is not None:
                self.local_key = literal if case_sensitive else literal.lower()
            else:
                self.local_regex, self.local_converters = route.local.compile(not case_sensitive)
        self.any_local = self.regex is None and route.local is None

    def match(self, local: str, local_key: str, domain: str, tagged: bool) -> tuple | None:
        """Return ``(args, kwargs)`` if this leaf matches, else ``None``.

        ``tagged`` is true while the whole local part of a ``user+tag`` address
        is tried: a route that takes any local part then leaves it to the second
        try, so it gets the subaddress.
        """
        kwargs: dict[str, Any] = {}
        args: tuple = ()
        if self.domain_literal is not None:
            if domain != self.domain_literal:
                return None
        elif self.domain_regex is not None:
            found = self.domain_regex.fullmatch(domain)
            if found is None or not _convert(found, self.domain_converters, kwargs):
                return None
        if self.regex is not None:
            found = self.regex.search(local if self.regex_on_local else f"{local}@{domain}")
            if found is None:
                return None
            named = found.groupdict()
            kwargs.update((key, value) for key, value in named.items() if value is not None)
            args = () if named else found.groups()
        elif self.local_key is not None:
            if local_key != self.local_key:
                return None
        elif self.local_regex is not None:
            found = self.local_regex.fullmatch(local)
            if found is None or not _convert(found, self.local_converters, kwargs):
                return None
        elif tagged:
            return None
        kwargs.update(self.route.defaults)
        return args, kwargs


def _convert(found: re.Match, converters: dict[str, Any], kwargs: dict[str, Any]) -> bool:
    for name, value in found.groupdict().items():
        try:
            kwargs[name] = converters[name].to_python(value)
        except ValueError:
            return False
    return True


class _Index:
    """The leaves of one mode, by literal address, domain and local part."""

    def __init__(self, routes: list[_Route], mode: Mode) -> None:
        self.mode = mode
        self.leaves = [_Leaf(route, mode) for route in routes]
        self.by_address: dict[tuple[str, str], list[_Leaf]] = defaultdict(list)
        self.by_domain: dict[str, list[_Leaf]] = defaultdict(list)
        self.by_local: dict[str, list[_Leaf]] = defaultdict(list)
        self.fallback: list[_Leaf] = []
        self.by_name: dict[str, list[_Route]] = defaultdict(list)
        for leaf in self.leaves:
            literal_domain = leaf.domain_literal
            if leaf.regex is None and literal_domain is not None and leaf.local_key is not None:
                self.by_address[leaf.local_key, literal_domain].append(leaf)
            elif leaf.regex is None and literal_domain is not None:
                self.by_domain[literal_domain].append(leaf)
            elif leaf.local_key is not None and leaf.route.domain is None:
                self.by_local[leaf.local_key].append(leaf)
            else:
                self.fallback.append(leaf)
        for route in routes:
            if route.view_name:
                self.by_name[route.view_name].append(route)
            app_view_name = ":".join([*route.app_names, route.name]) if route.name else None
            if app_view_name and app_view_name != route.view_name:
                self.by_name[app_view_name].append(route)
        # Plain dicts from here on: a miss must not add keys.
        self.by_address = dict(self.by_address)
        self.by_domain = dict(self.by_domain)
        self.by_local = dict(self.by_local)
        self.by_name = dict(self.by_name)

    def candidates(self, local_key: str, domain: str) -> list[list[_Leaf]]:
        return [
            self.by_address.get((local_key, domain), ()),
            self.by_local.get(local_key, ()),
            self.by_domain.get(domain, ()),
            self.fallback,
        ]

    def match(self, local: str, domain: str, tagged: bool) -> tuple[_Leaf, tuple] | None:
        local_key = local if self.mode[0] else local.lower()
        best: tuple[_Leaf, tuple] | None = None
        for leaves in self.candidates(local_key, domain):
            for leaf in leaves:
                if best is not None and leaf.order >= best[0].order:
                    break
                found = leaf.match(local, local_key, domain, tagged)
                if found is not None:
                    best = (leaf, found)
                    break
        return best


class Resolver:
    """Resolve addresses against ``patterns`` and reverse their route names."""

    def __init__(self, patterns: Iterable) -> None:
        self.patterns = patterns
        self._routes: list[_Route] | None = None
        self._indexes: dict[Mode, _Index] = {}
        self._lock = threading.Lock()

    @property
    def routes(self) -> list[_Route]:
        if self._routes is None:
            with self._lock:
                if self._routes is None:
                    self._routes = flatten(self.patterns)
        return self._routes

    def index(self, mode: Mode | None = None) -> _Index:
        mode = mode or current_mode()
        index = self._indexes.get(mode)
        if index is None:
            index = self._indexes[mode] = _Index(self.routes, mode)
        return index

    def resolve(self, address: str) -> RouteMatch:
        """Return the :class:`RouteMatch` of ``address``; raise ``NoRoute``."""
        try:
            local, domain = split_address(address)
        except InvalidAddress:
            raise NoRoute(address if isinstance(address, str) else repr(address)) from None
        index = self.index()
        normalized = f"{local}@{domain}"
        base, tag = split_subaddress(local, index.mode[1])
        found = self._match(index, local, domain, tag is not None)
        subaddress = None
        if found is None and tag is not None:
            found = self._match(index, base, domain, False)
            subaddress = tag
        if found is None:
            raise NoRoute(normalized, self._tried(index, local, base, domain))
        leaf, (args, kwargs) = found
        route = leaf.route
        return RouteMatch(
            route.callback,
            args,
            kwargs,
            route.name,
            route.namespaces,
            route.app_names,
            normalized,
            subaddress,
            route.description,
        )

    def _match(self, index: _Index, local: str, domain: str, tagged: bool):
        return index.match(local, domain, tagged)

    def _tried(self, index: _Index, local: str, base: str, domain: str) -> list[list]:
        seen: dict[int, list] = {}
        for key in {local, base}:
            key = key if index.mode[0] else key.lower()
            for leaves in index.candidates(key, domain):
                for leaf in leaves:
                    seen.setdefault(leaf.order, list(leaf.route.chain))
        return [seen[order] for order in sorted(seen)]

    def reverse(self, name: str, args: Iterable | None = None, kwargs: dict | None = None) -> str:
        """Return the address of the route called ``name`` (``"ns:name"`` in an include)."""
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        if args and kwargs:
            raise ValueError("Don't mix *args and **kwargs in call to reverse()!")
        index = self.index()
        routes = index.by_name.get(name)
        if not routes:
            raise NoReverseMatch(f"No mail route is named {name!r}.")
        reasons = []
        for route in routes:
            try:
                return _reverse_route(route, index.mode, args, kwargs)
            except NoReverseMatch as exc:
                reasons.append(str(exc))
        raise NoReverseMatch(
            f"Reverse for mail route {name!r} with arguments {args!r} and keyword "
            f"arguments {kwargs!r} not found: " + " ".join(reasons)
        )


class LinearResolver(Resolver):
    """Try every pattern in list order: the reference the indexed resolver must agree with."""

    def _match(self, index: _Index, local: str, domain: str, tagged: bool):
        local_key = local if index.mode[0] else local.lower()
        for leaf in index.leaves:
            found = leaf.match(local, local_key, domain, tagged)
            if found is not None:
                return leaf, found
        return None


def _reverse_route(route: _Route, mode: Mode, args: tuple, kwargs: dict) -> str:
    if route.regex is None and route.local is None:
        raise NoReverseMatch(
            f"Mail route {route.description!r} matches any local part, so it has no "
            "address to reverse to."
        )
    if route.domain is None and not (route.regex and not route.regex_on_local):
        raise NoReverseMatch(
            f"Mail route {route.description!r} matches a local part at any domain, so it "
            "has no address to reverse to: give it a domain, or include it under '@domain'."
        )
    leaf = _Leaf(route, mode)
    domain_params = route.domain.parameters if route.domain else []
    if route.regex is not None:
        candidates = normalize(route.regex.route)
    else:
        candidates = [(None, route.local.parameters)]
    for template, params in candidates:
        values = _bind(route, [*domain_params, *params], args, kwargs)
        if values is None:
            continue
        try:
            domain = _render(route.domain, values) if route.domain else ""
            if template is None:
                local = _render(route.local, values)
            else:
                local = template % {key: str(values[key]) for key in params}
        except ValueError:
            continue
        if leaf.domain_regex is not None and not leaf.domain_regex.fullmatch(domain):
            continue
        if leaf.local_regex is not None and not leaf.local_regex.fullmatch(local):
            continue
        if leaf.regex is not None and not leaf.regex.search(local):
            continue
        address = f"{local}@{domain}" if domain else local
        try:
            return normalize_address(address)
        except InvalidAddress as exc:
            raise NoReverseMatch(f"{address!r} is not a valid address: {exc}") from None
    raise NoReverseMatch(f"Mail route {route.description!r} did not take those arguments.")


def _bind(route: _Route, names: list[str], args: tuple, kwargs: dict) -> dict | None:
    """Map ``args``/``kwargs`` onto ``names`` as Django's reverse() does, or return None."""
    if args:
        return dict(zip(names, args, strict=True)) if len(args) == len(names) else None
    defaults = route.defaults
    if set(kwargs).symmetric_difference(names).difference(defaults):
        return None
    if any(kwargs.get(key, value) != value for key, value in defaults.items()):
        return None
    return {name: kwargs[name] for name in names}


def _render(part: RoutePart, values: dict) -> str:
    return "".join(
        segment if isinstance(segment, str) else segment[1].to_url(values[segment[0]])
        for segment in part.segments
    )
