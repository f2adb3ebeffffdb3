"""A mailconf whose mailpatterns is not a list (mailserver.E002)."""

mailpatterns = "help@example.com"
