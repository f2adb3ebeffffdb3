"""SMTP AUTH (RFC 4954) checked against Django's authentication backends.

For submission-style use of ``runmailserver --auth``: PLAIN and LOGIN, offered
only over TLS (aiosmtpd refuses AUTH before STARTTLS), with the credentials
checked by ``django.contrib.auth.authenticate()`` in the view pool, so password
hashing and the database never block the event loop.
"""

from __future__ import annotations

import asyncio
import binascii
from base64 import b64decode
from typing import Any

from aiosmtpd.smtp import MISSING, AuthResult

from mailserver.ingress.smtp import SMTPHandler

#: RFC 4954 section 6 and RFC 3463: 535 5.7.8 for bad credentials, 501 5.5.2 for bad syntax.
BAD_BASE64 = "501 5.5.2 Cannot decode the base64 credentials"


class DjangoAuthMixin:
    """Handler hooks ``auth_PLAIN`` and ``auth_LOGIN``; mix in before ``SMTPHandler``."""

    executor: Any

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        # RFC 4616: [authzid] NUL authcid NUL passwd, given at once or after an empty 334.
        data = await _initial_or_challenge(server, args, "")
        if data is None:
            return AuthResult(success=False, handled=True)
        parts = data.split(b"\x00")
        if len(parts) != 3:
            await server.push(BAD_BASE64)
            return AuthResult(success=False, handled=True)
        return await self._authenticate(parts[1], parts[2])

    async def auth_LOGIN(self, server: Any, args: list[str]) -> AuthResult:
        username = await _initial_or_challenge(server, args, "User Name\x00")
        if username is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password\x00")
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        return await self._authenticate(username, password)

    async def _authenticate(self, username: bytes, password: bytes) -> AuthResult:
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(
            self.executor,
            _django_authenticate,
            username.decode("utf-8", "replace"),
            password.decode("utf-8", "replace"),
        )
        if user is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user.get_username())


def _django_authenticate(username: str, password: str) -> Any:
    from django.contrib.auth import authenticate

    return authenticate(None, username=username, password=password)


async def _initial_or_challenge(server: Any, args: list[str], challenge: str) -> bytes | None:
    """The client's first value: given with the command, or asked for with a 334."""
    if len(args) == 1:
        data = await server.challenge_auth(challenge)
        return None if data is MISSING else data
    try:
        return b64decode(args[1].encode(), validate=True)
    except (binascii.Error, ValueError):
        await server.push(BAD_BASE64)
        return None


class AuthSMTPHandler(DjangoAuthMixin, SMTPHandler):
    """The SMTP handler with AUTH PLAIN and LOGIN against Django's users."""
