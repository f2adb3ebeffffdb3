"""Where mail to the example project goes: the help desk's addresses and the bounces."""

from helpdesk import mailviews

from mailserver.routing import route

mailpatterns = [
    route("help@example.com", mailviews.new_ticket, name="help"),
    # A signed ticket id: mail to a forged or altered address is refused at RCPT time.
    route("ticket-<signed:token>@example.com", mailviews.ticket_reply, name="ticket-reply"),
    route("unsubscribe-<signed:token>@example.com", mailviews.unsubscribe, name="unsubscribe"),
    # MAILSERVER_VERP gives every recipient its own return path here.
    route("bounces+<str:token>@example.com", "mailserver.views.bounce", name="bounces"),
]
