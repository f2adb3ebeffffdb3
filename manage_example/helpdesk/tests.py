"""The help desk, driven by mail the way a customer and the staff would use it."""

import shutil
import tempfile
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.urls import reverse as reverse_url
from django.utils import timezone

from helpdesk.models import Announcement, Customer, Ticket
from mailserver.models import OutboundMessage
from mailserver.models.bounces import Bounce
from mailserver.routing import resolve
from mailserver.suppression import suppress
from mailserver.test import MailClient
from mailserver.test.smtpsink import SMTPSink

MEDIA_ROOT = tempfile.mkdtemp(prefix="helpdesk-media-")


def parsed(outbound: OutboundMessage):
    return message_from_bytes(bytes(outbound.raw), policy=default_policy)


def queued(**filters) -> list:
    """The queued mail (parsed), oldest first: replies of mail views are queued too."""
    return [parsed(o) for o in OutboundMessage.objects.filter(**filters).order_by("pk")]


@override_settings(MEDIA_ROOT=MEDIA_ROOT)
class HelpDeskTestCase(TestCase):
    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(MEDIA_ROOT, ignore_errors=True)

    def setUp(self):
        super().setUp()
        # The auto-reply rate limit counts replies per sender in the cache: start afresh.
        for cache in caches.all():
            cache.clear()

    def open_ticket(self, **kwargs):
        kwargs = {
            "from_email": "alice@example.org",
            "to": "help@example.com",
            "subject": "My printer is on fire",
            "body": "It was working yesterday.",
            **kwargs,
        }
        [result] = MailClient().send(**kwargs)
        return result


class OpeningTicketsTests(HelpDeskTestCase):
    def test_mail_to_help_opens_a_ticket_and_replies_with_its_number(self):
        result = self.open_ticket()
        self.assertEqual((result.smtp_code, result.exit_code), (250, 0))
        ticket = Ticket.objects.get()
        self.assertEqual(ticket.customer.email, "alice@example.org")
        self.assertEqual(ticket.subject, "My printer is on fire")
        self.assertEqual(ticket.messages.get().body.strip(), "It was working yesterday.")
        [reply] = queued()
        self.assertEqual(reply["To"], "alice@example.org")
        self.assertEqual(reply["From"], "help@example.com")
        self.assertIn(f"ticket #{ticket.pk}", reply.get_content())
        self.assertEqual(reply["Subject"], f"[#{ticket.pk}] My printer is on fire")
        self.assertEqual(reply["In-Reply-To"], ticket.messages.get().message_id)

    def test_the_reply_to_is_the_signed_ticket_address(self):
        self.open_ticket()
        ticket = Ticket.objects.get()
        [reply] = queued()
        self.assertEqual(reply["Reply-To"], ticket.reply_address)
        self.assertRegex(reply["Reply-To"], r"^ticket-[0-9a-z]{12,}@example\.com$")
        self.assertNotEqual(reply["Reply-To"], f"ticket-{ticket.pk}@example.com")

    def test_attachments_are_saved_with_the_ticket(self):
        self.open_ticket(attachments=[("photo.png", b"\x89PNG fire", "image/png")])
        [attachment] = Ticket.objects.get().messages.get().attachments.all()
        self.assertEqual((attachment.filename, attachment.size), ("photo.png", 9))
        with attachment.file.open("rb") as f:
            self.assertEqual(f.read(), b"\x89PNG fire")

    def test_an_attachment_name_cannot_leave_the_media_directory(self):
        self.open_ticket(attachments=[("../../etc/passwd", b"x", "text/plain")])
        [attachment] = Ticket.objects.get().messages.get().attachments.all()
        self.assertTrue(attachment.file.name.startswith("attachments/"))
        self.assertNotIn("..", attachment.file.name)

    def test_a_mail_without_from_opens_a_ticket_for_the_envelope_sender(self):
        [result] = MailClient().send_raw(
            b"Subject: Hi\r\n\r\nNo From header.\r\n",
            sender="bob@example.org",
            recipients=["help@example.com"],
        )
        self.assertEqual(result.smtp_code, 250)
        self.assertEqual(Ticket.objects.get().customer.email, "bob@example.org")

    def test_unknown_addresses_are_refused(self):
        [result] = MailClient().send(from_email="a@example.org", to="nobody@example.com")
        self.assertEqual((result.smtp_code, result.smtp_status), (550, "5.1.1"))


class TicketRepliesTests(HelpDeskTestCase):
    def setUp(self):
        super().setUp()
        self.open_ticket()
        self.ticket = Ticket.objects.get()
        self.address = queued()[0]["Reply-To"]

    def test_a_reply_to_the_ticket_address_threads_into_the_ticket(self):
        [result] = MailClient().send(
            from_email="alice@example.org",
            to=self.address,
            subject="Re: My printer is on fire",
            body="Now the desk is burning too.",
        )
        self.assertEqual(result.smtp_code, 250)
        bodies = [m.body.strip() for m in self.ticket.messages.all()]
        self.assertEqual(bodies, ["It was working yesterday.", "Now the desk is burning too."])
        self.assertEqual(len(queued()), 1, "no auto-reply to a reply")

    def test_a_reply_reopens_a_closed_ticket(self):
        Ticket.objects.update(status=Ticket.Status.CLOSED)
        MailClient().send(from_email="alice@example.org", to=self.address, body="Again!")
        self.ticket.refresh_from_db()
        self.assertEqual(self.ticket.status, Ticket.Status.OPEN)

    def test_forged_and_tampered_ticket_addresses_are_refused(self):
        local = self.address.partition("@")[0]
        tampered = local[:-1] + ("a" if local[-1] != "a" else "b")
        with self.settings(SECRET_KEY="another-site-" + "x" * 40):
            other_site = self.ticket.reply_address
        forged = [
            f"ticket-{self.ticket.pk}@example.com",  # the bare id, unsigned
            f"{tampered}@example.com",  # one character of the MAC changed
            self.address.replace("ticket-", "unsubscribe-"),  # signed, but for another purpose
            other_site,  # signed with another site's key
        ]
        for address in forged:
            with self.subTest(address=address):
                [result] = MailClient().send(from_email="mallory@example.net", to=address)
                self.assertEqual((result.smtp_code, result.smtp_status), (550, "5.1.1"))
        self.assertEqual(self.ticket.messages.count(), 1)

    def test_the_address_of_a_deleted_ticket_is_refused(self):
        Ticket.objects.all().delete()
        [result] = MailClient().send(from_email="alice@example.org", to=self.address)
        self.assertEqual(result.smtp_code, 550)

    def test_the_signed_address_survives_an_mta_upper_casing_it(self):
        [result] = MailClient().send(
            from_email="alice@example.org", to=self.address.upper(), body="SHOUTING"
        )
        self.assertEqual(result.smtp_code, 250)
        self.assertEqual(self.ticket.messages.count(), 2)


class AdminTests(HelpDeskTestCase):
    def setUp(self):
        super().setUp()
        self.staff = get_user_model().objects.create_superuser(
            "bob", "bob@example.com", "password"
        )
        self.client.force_login(self.staff)

    def test_ticket_list_and_conversation(self):
        self.open_ticket()
        ticket = Ticket.objects.get()
        listing = self.client.get(reverse_url("admin:helpdesk_ticket_changelist"))
        self.assertContains(listing, "My printer is on fire")
        page = self.client.get(reverse_url("admin:helpdesk_ticket_change", args=[ticket.pk]))
        self.assertContains(page, "It was working yesterday.")

    def test_attachments_download_from_the_admin(self):
        self.open_ticket(attachments=[("report.pdf", b"%PDF-1.4 fire", "application/pdf")])
        ticket = Ticket.objects.get()
        page = self.client.get(reverse_url("admin:helpdesk_ticket_change", args=[ticket.pk]))
        attachment = ticket.messages.get().attachments.get()
        url = reverse_url("admin:helpdesk_attachment_download", args=[attachment.pk])
        self.assertContains(page, url)
        response = self.client.get(url)
        self.assertEqual(b"".join(response.streaming_content), b"%PDF-1.4 fire")
        self.assertIn('attachment; filename="report.pdf"', response["Content-Disposition"])
        self.client.logout()
        self.assertEqual(self.client.get(url).status_code, 302)  # to the login page

    def test_a_staff_reply_is_queued_threaded_under_the_ticket(self):
        self.open_ticket()
        ticket = Ticket.objects.get()
        first_id = ticket.messages.get().message_id
        response = self.client.post(
            reverse_url("admin:helpdesk_ticket_change", args=[ticket.pk]),
            {
                "subject": ticket.subject,
                "status": "open",
                "reply": "Please step away from the printer.",
                "messages-TOTAL_FORMS": "1",
                "messages-INITIAL_FORMS": "1",
                "messages-MIN_NUM_FORMS": "0",
                "messages-MAX_NUM_FORMS": "1000",
                "messages-0-id": ticket.messages.get().pk,
                "messages-0-ticket": ticket.pk,
            },
        )
        self.assertEqual(response.status_code, 302)
        outbound = OutboundMessage.objects.get(priority=0)
        self.assertEqual(outbound.priority_name, "high")
        sent = parsed(outbound)
        self.assertEqual(sent["To"], "alice@example.org")
        self.assertEqual(sent["In-Reply-To"], first_id)
        self.assertEqual(sent["References"], first_id)
        self.assertEqual(sent["Reply-To"], ticket.reply_address)
        staff_message = ticket.messages.get(from_staff=True)
        self.assertEqual(staff_message.message_id, sent["Message-ID"])
        self.assertEqual(staff_message.author, "bob@example.com")

    def test_the_customer_list_shows_who_is_suppressed(self):
        self.open_ticket()
        suppress("alice@example.org", "bounce")
        page = self.client.get(reverse_url("admin:helpdesk_customer_changelist"))
        self.assertContains(page, "Suppressed (bounced)")
        self.assertContains(page, 'alt="True"')


class DigestTests(HelpDeskTestCase):
    def test_staff_get_one_weekly_digest_of_new_tickets(self):
        get_user_model().objects.create_user("bob", "bob@example.com", is_staff=True)
        get_user_model().objects.create_user("eve", "eve@example.com")  # not staff
        self.open_ticket()
        self.open_ticket(from_email="carol@example.org", subject="Toner smells funny")
        call_command("senddigests", "tickets", verbosity=0)
        [sent] = queued(recipients__address="bob@example.com")
        self.assertEqual(sent["Subject"], "Help desk: 2 new tickets this week")
        body = sent.get_content()
        self.assertIn("My printer is on fire (from alice@example.org)", body)
        self.assertIn("Toner smells funny (from carol@example.org)", body)
        call_command("senddigests", "tickets", verbosity=0)
        self.assertEqual(len(queued(recipients__address="bob@example.com")), 1, "sent once")


class AnnouncementTests(HelpDeskTestCase):
    def setUp(self):
        super().setUp()
        for sender in ["alice@example.org", "carol@example.org", "dave@example.org"]:
            self.open_ticket(from_email=sender)
        self.announcement = Announcement.objects.create(
            subject="We are moving",
            body="New office, same printers.",
            send_at=timezone.now() + timedelta(days=1),
        )

    def queue(self):
        staff = get_user_model().objects.create_superuser("bob", "bob@example.com", "pw")
        self.client.force_login(staff)
        self.client.post(
            reverse_url("admin:helpdesk_announcement_changelist"),
            {"action": "queue", "_selected_action": [self.announcement.pk]},
        )
        return OutboundMessage.objects.filter(subject="We are moving").order_by("pk")

    def test_queued_scheduled_low_priority_with_list_unsubscribe(self):
        queued = self.queue()
        self.assertEqual(queued.count(), 3)
        for outbound in queued:
            with self.subTest(outbound=outbound):
                self.assertEqual(outbound.priority_name, "low")
                self.assertEqual(outbound.send_after, self.announcement.send_at)
                address = outbound.recipients.get().address
                customer = Customer.objects.get(email=address)
                self.assertEqual(
                    parsed(outbound)["List-Unsubscribe"],
                    f"<mailto:{customer.unsubscribe_address}>",
                )

    def test_unsubscribing_by_mail_stops_announcements_only(self):
        carol = Customer.objects.get(email="carol@example.org")
        [result] = MailClient().send(
            from_email="carol@example.org", to=carol.unsubscribe_address, subject="unsubscribe"
        )
        self.assertEqual(result.smtp_code, 250)
        addresses = {o.recipients.get().address for o in self.queue()}
        self.assertEqual(addresses, {"alice@example.org", "dave@example.org"})

    def test_suppressed_customers_are_recorded_not_sent_to(self):
        suppress("dave@example.org", "bounce")
        statuses = {o.recipients.get().address: o.recipients.get().status for o in self.queue()}
        self.assertEqual(statuses["dave@example.org"], "suppressed")
        self.assertEqual(statuses["alice@example.org"], "queued")


class BounceTests(HelpDeskTestCase):
    def test_the_verp_return_path_routes_to_the_bounce_view(self):
        match = resolve("bounces+0abc123@example.com")
        self.assertEqual(match.route_name, "bounces")
        self.assertEqual(match.kwargs, {"token": "0abc123"})

    def test_a_bounce_to_the_verp_address_suppresses_the_customer(self):
        from mailserver.outbound import send_queued
        from mailserver.suppression import is_suppressed

        self.open_ticket(from_email="gone@example.org")
        with SMTPSink() as sink, self.settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=sink.port):
            send_queued()
        [delivered] = sink.messages
        return_path = delivered.mail_from
        self.assertRegex(return_path, r"^bounces\+.+@example\.com$")
        dsn = (
            f"From: MAILER-DAEMON@example.org\r\nTo: {return_path}\r\nSubject: Undelivered\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nGone.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.org\r\n\r\n"
            "Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\n"
            "Status: 5.1.1\r\n\r\n--b--\r\n"
        )
        [result] = MailClient().send_raw(dsn.encode(), sender="", recipients=[return_path])
        self.assertEqual(result.smtp_code, 250)
        self.assertTrue(is_suppressed("gone@example.org"))
        bounce = Bounce.objects.get()
        self.assertEqual(
            (bounce.address, bounce.kind, bounce.status), ("gone@example.org", "hard", "5.1.1")
        )
        staff = get_user_model().objects.create_superuser("bob", "bob@example.com", "pw")
        self.client.force_login(staff)
        page = self.client.get(reverse_url("admin:helpdesk_customer_changelist"))
        self.assertContains(page, "Bounces")
