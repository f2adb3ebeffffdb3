"""``fetchmail``: mail from hosted mailboxes (IMAP, POP3) and local ones (Maildir, mbox).

``config`` reads ``MAILSERVER_MAILBOXES``; ``fetch`` runs the messages through
the inbound pipeline; ``imap``, ``pop3`` and ``local`` talk to the mailboxes.
Nothing here is imported with the package: ``readmail`` must start fast.
"""
