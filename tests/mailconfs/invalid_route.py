"""A mailconf that fails at import: an unknown converter (mailserver.E001)."""

from mailserver.routing import route

mailpatterns = [route("<nope:x>@example.com", "tests.mailconfs.routing.reply")]
