"""Hypothesis strategies for hostile and broken mail: messages as bytes, and addresses.

The messages are built the way real breakage looks, not as uniform noise: plausible
header sets with random folding, RFC 2047 words in charsets that exist and that do not,
multiparts whose boundaries are missing, repeated or never closed, 8-bit bytes and NULs
where RFC 5322 forbids them, bare LFs, over-long lines and message/rfc822 inside
message/rfc822. Shrinking then finds the smallest message that breaks a property.
"""

from __future__ import annotations

import base64
import binascii

from hypothesis import strategies as st

__all__ = ["addresses", "bounce_like_messages", "header_values", "messages"]

CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "iso-8859-15",
    "windows-1252",
    "koi8-r",
    "shift_jis",
    "iso-2022-jp",
    "euc-kr",
    "gb2312",
    "big5",
    "utf-16",
    "utf-7",
    "x-unknown",
    "",  # an empty charset, which decoders must survive
]
HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Return-Path",
    "Received",
    "Auto-Submitted",
    "Precedence",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
    "X-Autoreply",
    "X-Mailer",
]
CONTENT_TYPES = [
    "text/plain",
    "text/html",
    "application/octet-stream",
    "image/png",
    "message/rfc822",
    "message/delivery-status",
    "multipart/mixed",
    "multipart/report; report-type=delivery-status",
    "text/plain; charset=",
    "garbage",
    "",
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus"]

# Bytes that do not belong in a header or a body line, in the shapes they arrive in.
NASTY_BYTES = [b"\x00", b"\r", b"\n", b"\r\n", b"\x1b", b"\xff", b"\xc3", b"\x85", b"\x0b"]

ascii_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=40
)
any_text = st.text(max_size=40)
raw_bytes = st.binary(max_size=60)


@st.composite
def encoded_words(draw) -> str:
    """An RFC 2047 encoded word, well-formed or not, in a random charset."""
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(any_text)
    try:
        data = text.encode(charset or "utf-8")
    except (LookupError, UnicodeError):
        data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(raw_bytes)  # bytes that are not valid in the declared charset
    if draw(st.booleans()):
        payload = base64.b64encode(data).decode()
        if draw(st.booleans()):
            payload = payload.rstrip("=")  # broken padding
        return f"=?{charset}?{draw(st.sampled_from('Bb'))}?{payload}?="
    payload = binascii.b2a_qp(data, header=True).decode().replace("=\n", "")
    return f"=?{charset}?{draw(st.sampled_from('Qq'))}?{payload}?="


def header_values() -> st.SearchStrategy[bytes]:
    """A header value: text, encoded words, addresses, control bytes, 8-bit junk."""
    piece = st.one_of(
        ascii_text.map(str.encode),
        any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
        encoded_words().map(str.encode),
        addresses().map(lambda a: a.encode("utf-8", "surrogatepass")),
        st.sampled_from(NASTY_BYTES),
        raw_bytes,
        st.sampled_from([b"<id@host>", b'"Name, with comma" <a@b.example>', b"(comment)"]),
    )
    return st.lists(piece, max_size=6).map(b" ".join)


@st.composite
def headers(draw, extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A header block: random, possibly repeated fields, folded at random points."""
    names = draw(
        st.lists(
            st.one_of(
                st.sampled_from(HEADER_NAMES),
                st.text("abcXYZ-_:; \t\x00é", min_size=0, max_size=12),  # invalid names
            ),
            max_size=10,
        )
    )
    fields = [(name.encode("utf-8", "surrogatepass"), draw(header_values())) for name in names]
    fields.extend(extra)
    lines = []
    for name, value in fields:
        if draw(st.booleans()) and b" " in value:
            # RFC 5322 section 2.2.3 folding, at a random space; sometimes with a bare LF.
            at = value.index(b" ")
            value = value[:at] + draw(st.sampled_from([b"\r\n ", b"\n\t", b"\r\n\t"])) + value[at:]
        lines.append(name + b": " + value)
    return draw(st.sampled_from([b"\r\n", b"\n"])).join(lines)


@st.composite
def leaf_bodies(draw) -> bytes:
    body = draw(
        st.one_of(
            ascii_text.map(str.encode),
            any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
            raw_bytes,
            st.sampled_from([b"=41=4", b"QUJD=", b"!!!notbase64", b"\x00" * 8]),
            # An over-long line: RFC 5321 allows 998 octets.
            st.integers(990, 3000).map(lambda n: b"x" * n),
        )
    )
    return body


@st.composite
def mime_parts(draw, depth: int = 0) -> bytes:
    """One MIME entity: a leaf, a multipart, or an enclosed message, up to a depth."""
    kind = draw(
        st.sampled_from(["leaf", "leaf", "multipart", "message"] if depth < 4 else ["leaf"])
    )
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    if kind == "leaf":
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        charset = draw(st.sampled_from(CHARSETS))
        extra = [
            (b"Content-Type", f"{content_type}; charset={charset}".encode()),
            (b"Content-Transfer-Encoding", draw(st.sampled_from(ENCODINGS)).encode()),
        ]
        if draw(st.booleans()):
            filename = draw(st.one_of(ascii_text, encoded_words()))
            extra.append((b"Content-Disposition", f'attachment; filename="{filename}"'.encode()))
        return draw(headers(extra)) + newline + newline + draw(leaf_bodies())
    if kind == "message":
        inner = draw(mime_parts(depth + 1))
        return b"Content-Type: message/rfc822" + newline + newline + inner
    boundary = draw(st.sampled_from(["b1", "b2", "", "==x==", "a b", "b1"]))
    parts = draw(st.lists(mime_parts(depth + 1), max_size=3))
    declared = draw(st.sampled_from([boundary, None, "other"]))  # missing or wrong boundary
    head = b"Content-Type: multipart/mixed"
    if declared is not None:
        head += f'; boundary="{declared}"'.encode()
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + newline + part + newline for part in parts)
    if draw(st.booleans()):
        body += delimiter + b"--" + newline  # the close delimiter, sometimes never sent
    if draw(st.booleans()):
        body = body + body  # duplicate parts with duplicate boundaries
    return head + newline + newline + body


@st.composite
def messages(draw) -> bytes:
    """A whole message: headers, then a MIME tree; sometimes plain garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=300))
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    top = draw(headers())
    return top + newline + draw(mime_parts())


def bounce_like_messages() -> st.SearchStrategy[bytes]:
    """Messages that look like DSNs, so the bounce parser's deeper paths get hostile input."""

    @st.composite
    def build(draw) -> bytes:
        status = draw(st.sampled_from(["5.1.1", "4.2.2", "9.9.9", "5.", "", "x"]))
        action = draw(st.sampled_from(["failed", "delayed", "delivered", "", "bogus"]))
        recipient = draw(addresses())
        report = (
            f"Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\n"
            f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; "
        ).encode("utf-8", "surrogatepass") + draw(header_values())
        original = draw(messages())
        boundary = b"rep"
        return (
            b"From: " + draw(st.sampled_from([b"MAILER-DAEMON@mx.example", b"postmaster@x"]))
            + b"\r\nSubject: Undelivered Mail\r\nContent-Type: multipart/report; "
            b"report-type=" + draw(st.sampled_from([b"delivery-status", b"feedback-report"]))
            + b'; boundary="rep"\r\n\r\n--' + boundary + b"\r\nContent-Type: text/plain\r\n\r\n"
            + draw(leaf_bodies()) + b"\r\n--" + boundary
            + b"\r\nContent-Type: message/delivery-status\r\n\r\n" + report + b"\r\n--"
            + boundary + b"\r\nContent-Type: message/rfc822\r\n\r\n" + original
            + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip

    return build()


# Addresses ----------------------------------------------------------------------------

LOCAL_PARTS = st.one_of(
    st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True),
    st.from_regex(r'"[ a-z@\\"(),:;<>\[\]]{0,15}"', fullmatch=True),  # quoted locals
    st.sampled_from(["ticket-12", "ticket-x", "help", "HELP", "postmaster", "bounces+tok"]),
    st.text(max_size=70),  # anything, including too long and non-ASCII (RFC 6531)
)
DOMAINS = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.COM",
            "lists.example.com",
            "users.example.com",
            "acme.orgs.example.com",
            "catchall.example.com",
            "bücher.example",  # IDNA
            "xn--bcher-kva.example",
            "[127.0.0.1]",
            "[IPv6:::1]",
            "example.com.",  # trailing dot
            "-bad-.example",
            "",
        ]
    ),
    st.from_regex(r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,3}", fullmatch=True),
    st.text(max_size=30),
)


@st.composite
def addresses(draw) -> str:
    """An envelope or header address: valid, unusual, or garbage."""
    address = f"{draw(LOCAL_PARTS)}@{draw(DOMAINS)}"
    shape = draw(st.integers(0, 7))
    if shape == 1:
        address = f"<{address}>"
    elif shape == 2:
        address = f"@relay.example:{address}"  # an RFC 5321 source route
    elif shape == 3:
        address = address.replace("@", "%", 1) + "@example.com"  # the percent hack
    elif shape == 4:
        address = f"{address} (a comment)"
    elif shape == 5:
        address = f'"Display Name" <{address}>'
    elif shape == 6:
        address = draw(st.text(max_size=40))  # pure garbage
    return address
