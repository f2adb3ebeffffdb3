"""The one pipeline every transport feeds: check, store, then handle per recipient.

Transports are thin adapters: they turn bytes and an envelope into a call of
:func:`receive` (or :func:`areceive` on an event loop) and turn the results into
their protocol's reply. With ``MAILSERVER_STORE_INBOUND`` on, the message is
committed as an ``InboundMessage`` before any view runs, so a success reply is
never given for something that is not stored.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.signals import setting_changed
from django.dispatch import receiver

from mailserver.conf import settings as app_settings
from mailserver.handlers import MailHandler
from mailserver.request import EmailRequest
from mailserver.status import Outcome, Result

logger = logging.getLogger("mailserver.ingress")


@dataclass
class Envelope:
    """What the transport knows besides the message bytes."""

    sender: str | None = None
    recipients: Sequence[str] = field(default_factory=list)
    peer: str | None = None
    helo: str | None = None
    transport: str = "test"


@cache
def get_handler() -> MailHandler:
    """The process's sync handler, with its middleware chain built once."""
    return MailHandler()


@cache
def get_async_handler() -> MailHandler:
    """The process's async handler, for async views on the server's event loop."""
    return MailHandler(is_async=True)


@receiver(setting_changed)
def _reset_handler(*, setting: str, **kwargs: Any) -> None:
    if setting == "MAILSERVER_MIDDLEWARE":
        get_handler.cache_clear()
        get_async_handler.cache_clear()


def check_message(raw: bytes) -> Outcome | None:
    """Return why ``raw`` cannot be accepted at all, or ``None`` if it can."""
    if len(raw) > app_settings.MAX_MESSAGE_SIZE:
        return Outcome.TOO_LARGE
    if not raw.strip():
        return Outcome.MALFORMED
    return None


def make_request(raw: bytes, envelope: Envelope) -> EmailRequest:
    return EmailRequest(
        raw,
        envelope_from=envelope.sender,
        recipients=list(envelope.recipients),
        peer=envelope.peer,
        helo=envelope.helo,
        transport=envelope.transport,
    )


def _prepare(
    raw: bytes, envelope: Envelope
) -> tuple[EmailRequest, list[str], list[Result] | None]:
    """Build the request and find the recipients; third, the results if refused unstored."""
    request = make_request(raw, envelope)
    recipients = list(envelope.recipients) or request.header_recipients
    problem = check_message(raw)
    if problem is not None:
        return request, recipients, [Result(r, problem) for r in recipients or [""]]
    if not recipients:
        return request, recipients, [Result(recipient="", outcome=Outcome.NO_ROUTE)]
    return request, recipients, None


def _unavailable(recipients: Sequence[str]) -> list[Result]:
    """Storing failed (the database is down): ask the sender to retry, never 250."""
    logger.exception("Could not store an inbound message; answering 451.")
    error = traceback.format_exc()
    return [Result(recipient=r, outcome=Outcome.UNAVAILABLE, error=error) for r in recipients]


def _duplicate(recipient: str) -> Result:
    return Result(recipient=recipient, outcome=Outcome.DUPLICATE)


def handle_recipients(
    request: EmailRequest, recipients: Sequence[str], handler: MailHandler | None = None
) -> tuple[list[Result], dict[str, str]]:
    """Run the sync handler for each recipient; return the results and the views that ran."""
    handler = handler or get_handler()
    results, views = [], {}
    for recipient in recipients:
        copy = request.for_recipient(recipient)
        results.append(handler.handle(copy))
        views[recipient] = _view_path(copy)
    return results, views


def receive(raw: bytes, envelope: Envelope) -> list[Result]:
    """Store ``raw``, then handle it once for each envelope recipient; one result each.

    Without envelope recipients (a pipe without ``--recipient``), the To and Cc
    headers name them.
    """
    from mailserver.ingress import store

    request, recipients, refused = _prepare(raw, envelope)
    if refused is not None:
        return refused
    inbound, done = None, set()
    if app_settings.STORE_INBOUND:
        try:
            inbound, done = store.store(request, recipients)
        except Exception:
            return _unavailable(recipients)
        request.inbound = inbound
    todo = [r for r in recipients if r.lower() not in done]
    handled, views = handle_recipients(request, todo)
    results = _in_order(recipients, handled)
    if inbound is not None:
        try:
            store.record(inbound, results, views)
        except Exception:
            # The message is stored and was handled; only its bookkeeping is missing.
            logger.exception("Could not record the results of inbound message %s.", inbound.pk)
    return results


async def areceive(
    raw: bytes, envelope: Envelope, *, writer: Any = None, executor: Executor | None = None
) -> list[Result]:
    """The event-loop twin of :func:`receive`, for ``runmailserver``.

    ``writer`` (an :class:`~mailserver.ingress.writer.InboundWriter`) groups the
    database writes of concurrent sessions into shared commits. Sync views run
    in ``executor`` (the server's pool, which closes Django connections around
    each job), all recipients of the message in one hop; async views run on the loop.
    """
    from mailserver.ingress import store

    loop = asyncio.get_running_loop()
    request, recipients, refused = _prepare(raw, envelope)
    if refused is not None:
        return refused
    inbound, done = None, set()
    if app_settings.STORE_INBOUND:
        try:
            if writer is not None:
                inbound, done = await writer.store(store.new_message(request, recipients))
            else:
                inbound, done = await loop.run_in_executor(
                    executor, store.store, request, recipients
                )
        except Exception:
            return _unavailable(recipients)
        request.inbound = inbound
    todo = [r for r in recipients if r.lower() not in done]
    sync_todo = [r for r in todo if not _is_async_view(r)]
    handled, views = [], {}
    if sync_todo:
        handled, views = await loop.run_in_executor(
            executor, handle_recipients, request, sync_todo
        )
    for recipient in todo:
        if recipient not in sync_todo:
            copy = request.for_recipient(recipient)
            handled.append(await get_async_handler().ahandle(copy))
            views[recipient] = _view_path(copy)
    results = _in_order(recipients, handled)
    if inbound is not None:
        fields = store.record_fields(results, views, inbound.results)
        failed = not all(r.is_success for r in results)
        if writer is not None:
            recorded = writer.record(inbound, fields, urgent=failed)
        else:
            recorded = loop.run_in_executor(executor, store.apply_record, inbound, fields)
        if failed:
            # A failure must be on record before the 4xx/5xx that announces it.
            await _quietly(recorded, inbound)
        else:
            recorded.add_done_callback(lambda f: f.cancelled() or _log_failure(f, inbound))
    return results


def _in_order(recipients: Sequence[str], handled: list[Result]) -> list[Result]:
    by_recipient = {r.recipient: r for r in handled}
    return [by_recipient.get(r) or _duplicate(r) for r in recipients]


def _is_async_view(recipient: str) -> bool:
    from mailserver.routing import resolve

    try:
        func = resolve(recipient).func
    except Exception:
        return False  # the sync handler turns the problem into a result
    return iscoroutinefunction(func) or inspect.iscoroutinefunction(func)


async def _quietly(recorded: Any, inbound: Any) -> None:
    try:
        await recorded
    except Exception:
        logger.exception("Could not record the results of inbound message %s.", inbound.pk)


def _log_failure(future: Any, inbound: Any) -> None:
    if future.exception() is not None:
        logger.error(
            "Could not record the results of inbound message %s.",
            inbound.pk,
            exc_info=future.exception(),
        )


def _view_path(request: Any) -> str:
    func = getattr(getattr(request, "resolver_match", None), "func", None)
    if func is None:
        return ""
    return f"{func.__module__}.{getattr(func, '__qualname__', type(func).__qualname__)}"
