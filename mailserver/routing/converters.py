"""Path converters for mail routes: ``<int:pk>``, ``<slug:list>``, ``<signed:token>``.

They follow Django's converter protocol (``regex``, ``to_python``, ``to_url``);
``to_python`` raising ``ValueError`` means the route does not match.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.urls.converters import IntConverter, SlugConverter, UUIDConverter

from mailserver.conf import settings as app_settings
from mailserver.routing import signing as mail_signing

__all__ = [
    "IntConverter",
    "SignedConverter",
    "SlugConverter",
    "StringConverter",
    "UUIDConverter",
    "get_converter",
    "get_converters",
    "register_converter",
]


class StringConverter:
    """A non-empty run without ``@`` or the subaddress separator.

    Leaving the separator out is what lets ``<str:user>`` match ``bob`` of
    ``bob+tag`` and hand the tag to the subaddress logic.
    """

    @property
    def regex(self) -> str:
        separator = app_settings.SUBADDRESS_SEPARATOR or ""
        return f"[^@{re.escape(separator)}]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


class SignedConverter:
    """A value signed with ``SECRET_KEY``, so an address proves this site issued it.

    ``to_url()`` signs, ``to_python()`` verifies and returns the value as a
    string; a tampered or expired token does not match. Give ``max_age`` and
    register the instance under its own name for tokens that expire::

        register_converter(SignedConverter(max_age=timedelta(days=30)), "signed30d")
    """

    # Upper case too: MTAs may change the case of a local part, tokens survive it.
    regex = f"[0-9a-zA-Z]{{{mail_signing.MIN_TOKEN_LENGTH},}}"

    def __init__(self, max_age: timedelta | datetime | None = None) -> None:
        self.max_age = max_age

    def to_python(self, value: str) -> str:
        try:
            return mail_signing.unsign(value)
        except signing.BadSignature as exc:
            raise ValueError(str(exc)) from None

    def to_url(self, value: Any) -> str:
        return mail_signing.sign(value, expires=self.max_age)


DEFAULT_CONVERTERS: dict[str, Any] = {
    "int": IntConverter(),
    "slug": SlugConverter(),
    "str": StringConverter(),
    "uuid": UUIDConverter(),
    "signed": SignedConverter(),
}

REGISTERED_CONVERTERS: dict[str, Any] = {}


def register_converter(converter: Any, type_name: str) -> None:
    """Make ``converter`` (a class or an instance) usable as ``<type_name:...>``."""
    if type_name in DEFAULT_CONVERTERS or type_name in REGISTERED_CONVERTERS:
        raise ValueError(f"Converter {type_name!r} is already registered.")
    REGISTERED_CONVERTERS[type_name] = converter() if isinstance(converter, type) else converter
    get_converters.cache_clear()


@functools.cache
def get_converters() -> dict[str, Any]:
    return {**DEFAULT_CONVERTERS, **REGISTERED_CONVERTERS}


def get_converter(type_name: str) -> Any:
    return get_converters()[type_name]
