"""``resolve()`` and ``reverse()`` against ``ROOT_MAILCONF``, loaded once and cached."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError
from mailserver.routing.patterns import load_mailpatterns
from mailserver.routing.resolvers import Resolver, RouteMatch


def get_resolver(mailconf: str | ModuleType | None = None) -> Resolver:
    """Return the cached resolver of ``mailconf``, by default ``ROOT_MAILCONF``."""
    if mailconf is None:
        mailconf = app_settings.ROOT_MAILCONF
        if not mailconf:
            raise MailServerConfigurationError(
                "ROOT_MAILCONF is not set: add ROOT_MAILCONF = 'myproject.mailconf' to your "
                "settings, naming the module that holds your mailpatterns."
            )
    return _get_cached_resolver(mailconf)


@functools.cache
def _get_cached_resolver(mailconf: str | ModuleType) -> Resolver:
    return Resolver(load_mailpatterns(mailconf)[0])


@receiver(setting_changed)
def _clear_resolver_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_MAILCONF":
        _get_cached_resolver.cache_clear()


def resolve(address: str, mailconf: str | ModuleType | None = None) -> RouteMatch:
    """Return the :class:`RouteMatch` of ``address``; raise ``NoRoute`` if none matches.

    An invalid address is ``NoRoute`` too, never another exception.
    """
    return get_resolver(mailconf).resolve(address)


def reverse(
    name: str,
    args: Iterable | None = None,
    kwargs: dict[str, Any] | None = None,
    mailconf: str | ModuleType | None = None,
) -> str:
    """Return the address of the route called ``name``; raise ``NoReverseMatch``."""
    return get_resolver(mailconf).reverse(name, args=args, kwargs=kwargs)
