"""The ways mail comes in: pipe (``readmail``), SMTP/LMTP, mailbox polling."""
