"""A help desk that lives on email: customers, their tickets and every message of them."""

from __future__ import annotations

from django.db import models
from django.urls import reverse as reverse_url
from django.utils import timezone

from mailserver.routing import reverse

# Every signed address carries a one-letter purpose inside the signed value, so the
# token of a ticket address cannot be reused as, say, an unsubscribe address.
TICKET, UNSUBSCRIBE = "t", "u"


def make_token(purpose: str, pk: int) -> str:
    return f"{purpose}{pk}"


def read_token(purpose: str, token: str) -> int | None:
    """Return the id in a verified ``token`` if it was made for ``purpose``."""
    if token[:1] == purpose and token[1:].isdigit():
        return int(token[1:])
    return None


class Customer(models.Model):
    """Someone who wrote to help@; the announcement goes to all of them."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    #: Set by mail to the List-Unsubscribe address: no more announcements (ticket mail goes on).
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def unsubscribe_address(self) -> str:
        """The signed address that takes this customer off announcements."""
        return reverse("unsubscribe", kwargs={"token": make_token(UNSUBSCRIBE, self.pk)})


class Ticket(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tickets")
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def get_absolute_url(self) -> str:
        return reverse_url("admin:helpdesk_ticket_change", args=[self.pk])

    @property
    def reply_address(self) -> str:
        """Where answers to this ticket go: signed, so nobody can guess another ticket's."""
        return reverse("ticket-reply", kwargs={"token": make_token(TICKET, self.pk)})


class Message(models.Model):
    """One mail of a ticket's conversation, from the customer or from staff."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    from_staff = models.BooleanField(default=False)
    author = models.CharField(max_length=320)
    body = models.TextField(blank=True)
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.author} on {self.ticket}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.filename


class Announcement(models.Model):
    """A one-off mail to every customer, queued at low priority for ``send_at``."""

    subject = models.CharField(max_length=255)
    body = models.TextField()
    send_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    recipients = models.PositiveIntegerField(default=0, editable=False)

    def __str__(self) -> str:
        return self.subject
