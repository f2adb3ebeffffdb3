"""What ``fetchmail`` has taken from each mailbox, so nothing is processed twice."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class FetchedMessage(models.Model):
    """One message of a configured mailbox that ``fetchmail`` has dealt with.

    The row is written (``fetching``) before the message goes into the
    pipeline and marked ``stored`` after; the server copy is removed only
    then. A crash between storing and removing leaves a row that tells the
    next run to remove the copy without handling the message again.

    The key is the server's own: the IMAP UID under the folder's UIDVALIDITY
    (RFC 3501 section 2.3.1.1), the POP3 UIDL (RFC 1939), the Maildir file's
    unique name, or for mbox a hash of the message.
    """

    class Status(models.TextChoices):
        #: Being stored; found so after a crash, ``content_hash`` tells whether it was.
        FETCHING = "fetching", _("fetching")
        STORED = "stored", _("stored")
        #: The pipeline refused it before storing (empty, too large, no recipient):
        #: it stays on the server and is not fetched again.
        REFUSED = "refused", _("refused, left on the server")

    mailbox = models.CharField(_("mailbox"), max_length=100)
    folder = models.CharField(_("folder"), max_length=255, blank=True)
    uidvalidity = models.PositiveBigIntegerField(_("UIDVALIDITY"), default=0)
    uid = models.CharField(_("unique id"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    content_hash = models.CharField(_("SHA-256 of the raw bytes"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    inbound = models.ForeignKey(
        "mailserver.InboundMessage",
        verbose_name=_("inbound message"),
        null=True,
        blank=True,
        # purgemail may delete the stored message; the key must stay so a message
        # kept on the server is not fetched again.
        on_delete=models.SET_NULL,
        related_name="+",
    )
    fetched_at = models.DateTimeField(_("fetched at"), default=timezone.now)

    class Meta:
        verbose_name = _("fetched message")
        verbose_name_plural = _("fetched messages")
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "folder", "uidvalidity", "uid"],
                name="mailserver_fetched_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.mailbox}/{self.folder}:{self.uidvalidity}:{self.uid} ({self.status})"
