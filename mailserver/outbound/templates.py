"""Compose mail from Django templates: ``<name>.subject.txt``, ``<name>.txt``, ``<name>.html``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string


def render_templated_mail(
    template_name: str,
    context: Mapping[str, Any],
    to: Sequence[str] | str,
    from_email: str | None = None,
    *,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    attachments: Iterable[tuple[str, bytes | str, str]] = (),
) -> EmailMultiAlternatives:
    """Build (without queueing) the message :func:`send_templated_mail` would queue."""
    context = dict(context)
    # One line, as a Subject must be (RFC 5322 section 2.2): templates often end in "\n".
    subject = " ".join(render_to_string(f"{template_name}.subject.txt", context).split())
    text = render_to_string(f"{template_name}.txt", context)
    try:
        html_template = get_template(f"{template_name}.html")
    except TemplateDoesNotExist:
        html_template = None
    message = EmailMultiAlternatives(
        subject,
        text,
        from_email,
        [to] if isinstance(to, str) else list(to),
        cc=list(cc),
        bcc=list(bcc),
        reply_to=list(reply_to),
        headers=dict(headers or {}),
    )
    if html_template is not None:
        message.attach_alternative(html_template.render(context), "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    return message


def send_templated_mail(
    template_name: str,
    context: Mapping[str, Any],
    to: Sequence[str] | str,
    from_email: str | None = None,
    *,
    priority: str = "normal",
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
    **kwargs: Any,
):
    """Render ``template_name`` with ``context`` and queue it; return the ``OutboundMessage``."""
    from mailserver.outbound.queue import enqueue

    message = render_templated_mail(template_name, context, to, from_email, **kwargs)
    return enqueue(message, priority=priority, send_at=send_at, expires_at=expires_at)
