"""Read inbound MIME messages without ever failing on what real senders produce.

``headers`` parses and decodes the header block (stdlib only, so header access stays
cheap), ``charsets`` turns bytes in any declared charset into text, and ``body`` walks
the MIME tree with flanker, falling back to Python's own parser where flanker gives up.
"""
