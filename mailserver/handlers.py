"""Run a message for one recipient through middleware, routing and the mail view.

Built like Django's ``BaseHandler``: the middleware chain is assembled once,
every layer is wrapped so an exception becomes a response, and the innermost
layer resolves the recipient and calls the view. The chain can be built for
sync callers (``readmail``) and async ones (``runmailserver``).
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from mailserver import signals
from mailserver.conf import settings as app_settings
from mailserver.exceptions import NoRoute, RejectMessage, TemporaryFailure
from mailserver.response import EmailRejectResponse, EmailTempFailResponse
from mailserver.status import Outcome, Result

logger = logging.getLogger("mailserver.handlers")


class NoRouteResponse(EmailRejectResponse):
    """Nothing in the mailconf routes the recipient (550 5.1.1)."""

    outcome = Outcome.NO_ROUTE
    default_message = "No such mailbox"
    default_status = "5.1.1"


class ServerErrorResponse(EmailTempFailResponse):
    """The view (or a middleware) raised; the traceback stays on our side."""

    outcome = Outcome.ERROR

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def response_for_exception(request: Any, exc: BaseException) -> EmailRejectResponse:
    """Turn an exception raised while handling ``request`` into a response."""
    if isinstance(exc, NoRoute):
        return NoRouteResponse()
    if isinstance(exc, TemporaryFailure):
        return EmailTempFailResponse(exc.message, exc.code, exc.status)
    if isinstance(exc, RejectMessage):
        return EmailRejectResponse(exc.message, exc.code, exc.status)
    logger.exception(
        "Mail view raised while handling mail for %s", getattr(request, "recipient", None)
    )
    return ServerErrorResponse(traceback.format_exc())


def convert_exception_to_response(get_response: Callable) -> Callable:
    """Wrap one layer of the chain so that no exception escapes it."""
    if iscoroutinefunction(get_response):

        @wraps(get_response)
        async def inner_async(request: Any) -> Any:
            try:
                return await get_response(request)
            except Exception as exc:
                return response_for_exception(request, exc)

        return inner_async

    @wraps(get_response)
    def inner(request: Any) -> Any:
        try:
            return get_response(request)
        except Exception as exc:
            return response_for_exception(request, exc)

    return inner


class MailHandler:
    """Handle an ``EmailRequest`` for its ``recipient`` and return a ``Result``."""

    def __init__(self, is_async: bool = False) -> None:
        self.is_async = is_async
        self._middleware_chain = self._load_middleware()

    def _load_middleware(self) -> Callable:
        handler = convert_exception_to_response(
            self._get_response_async if self.is_async else self._get_response
        )
        handler_is_async = self.is_async
        for path in reversed(app_settings.MIDDLEWARE):
            factory = import_string(path)
            middleware_is_async = self.is_async and getattr(factory, "async_capable", False)
            if not getattr(factory, "sync_capable", True):
                middleware_is_async = True
            handler = self._adapt(handler, handler_is_async, middleware_is_async)
            instance = factory(handler)
            handler = convert_exception_to_response(
                self._adapt(instance, middleware_is_async, self.is_async)
            )
            handler_is_async = self.is_async
        return handler

    @staticmethod
    def _adapt(method: Callable, method_is_async: bool, wanted_async: bool) -> Callable:
        if method_is_async and not wanted_async:
            return async_to_sync(method)
        if wanted_async and not method_is_async:
            return sync_to_async(method, thread_sensitive=False)
        return method

    def _resolve(self, request: Any) -> tuple[Callable, tuple, dict]:
        from mailserver.routing import resolve

        match = resolve(request.recipient)
        request.resolver_match = match
        return match.func, match.args, match.kwargs

    def _get_response(self, request: Any) -> Any:
        view, args, kwargs = self._resolve(request)
        if iscoroutinefunction(view) or inspect.iscoroutinefunction(view):
            return async_to_sync(view)(request, *args, **kwargs)
        return view(request, *args, **kwargs)

    async def _get_response_async(self, request: Any) -> Any:
        view, args, kwargs = self._resolve(request)
        if iscoroutinefunction(view) or inspect.iscoroutinefunction(view):
            return await view(request, *args, **kwargs)
        return await sync_to_async(view, thread_sensitive=False)(request, *args, **kwargs)

    def handle(self, request: Any) -> Result:
        """Handle ``request`` for ``request.recipient``; never raises."""
        response = self._middleware_chain(request)
        return self._finish(request, response)

    async def ahandle(self, request: Any) -> Result:
        """The async twin of :meth:`handle`, for the SMTP server's event loop."""
        response = await self._middleware_chain(request)
        return await sync_to_async(self._finish, thread_sensitive=False)(request, response)

    def _finish(self, request: Any, response: Any) -> Result:
        result = result_for_response(request, response)
        if result.outcome is Outcome.ACCEPTED:
            try:
                send_response(response)
            except Exception as exc:
                result = result_for_response(request, response_for_exception(request, exc))
        signal = signals.mail_received if result.is_success else signals.mail_rejected
        signal.send(sender=type(self), request=request, result=result)
        return result


def result_for_response(request: Any, response: Any) -> Result:
    """Map what the middleware chain returned to a :class:`~mailserver.status.Result`."""
    match = getattr(request, "resolver_match", None)
    route_name = getattr(match, "view_name", None) or getattr(match, "route_name", None)
    common = {"recipient": request.recipient, "response": response, "route_name": route_name}
    if response is None:
        return Result(outcome=Outcome.IGNORED, **common)
    if isinstance(response, EmailMessage):
        return Result(outcome=Outcome.ACCEPTED, **common)
    if isinstance(response, EmailRejectResponse):
        return Result(
            outcome=response.outcome,
            code=response.code,
            status=response.status,
            text=response.message,
            error=getattr(response, "error", None),
            **common,
        )
    outcome = getattr(response, "outcome", None)
    if outcome is Outcome.IGNORED:
        return Result(outcome=outcome, **common)
    error = f"The mail view returned {response!r}; expected an EmailResponse or None."
    logger.error(error)
    return Result(outcome=Outcome.ERROR, error=error, **common)


def send_response(response: EmailMessage) -> None:
    """Hand a view's ``EmailResponse`` to the outbound queue.

    Every reply a view produces leaves through this one function. It is queued
    whatever the email backend is (tests included: read it with
    ``mailserver.test.outbox.queued_mail()``), in the database that stores the
    inbound mail, so a 250 promises the reply is kept too; a worker sends it.
    """
    from mailserver.outbound.queue import enqueue

    enqueue(response)
