"""Address normalisation: the one form routing, suppression and ingress compare."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver.addresses import normalize_address, split_address, split_subaddress
from mailserver.exceptions import InvalidAddress


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("user@example.com", "user@example.com"),
        ("<user@example.com>", "user@example.com"),
        ("  < user@example.com >  ", "user@example.com"),
        ("User@EXAMPLE.Com", "User@example.com"),  # local case is routing's decision
        ("user@example.com.", "user@example.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
        ("first.last+tag@example.com", "first.last+tag@example.com"),
        ("!#$%&'*/=?^_`{|}~-@example.com", "!#$%&'*/=?^_`{|}~-@example.com"),
        ('"user"@example.com', "user@example.com"),  # RFC 5321 4.1.2: no needless quotes
        ('"first last"@example.com', '"first last"@example.com'),
        ('"a\\ b"@example.com', '"a b"@example.com'),
        ('"at@sign"@example.com', '"at@sign"@example.com'),
        ('"quote\\"d"@example.com', '"quote\\"d"@example.com'),
        ("josé@example.com", "josé@example.com"),  # RFC 6531 SMTPUTF8
        ("user@localhost", "user@localhost"),
        ("user@[192.0.2.1]", "user@[192.0.2.1]"),
        ("user@[IPv6:2001:DB8:0:0:0:0:0:1]", "user@[IPv6:2001:db8::1]"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_normalize_address(address, normalized):
    assert normalize_address(address) == normalized
    assert normalize_address(normalized) == normalized


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "empty"),
        ("<>", "empty"),
        ("   ", "empty"),
        ("@relay.example:user@example.com", "Source routes"),
        ("@,@relay.example:user@example.com", "Source routes"),
        ("@example.com", "no local part"),
        ("user", "no @domain"),
        ("user@", "no domain"),
        ("two@at@example.com", "need quoting"),
        ("first last@example.com", "need quoting"),
        (".user@example.com", "need quoting"),
        ("us..er@example.com", "need quoting"),
        ("user.@example.com", "need quoting"),
        ("user\x00@example.com", "need quoting"),
        ('""@example.com', "empty"),
        ('"unterminated@example.com', "malformed"),
        ('"quoted"x@example.com', "malformed"),
        ("a" * 65 + "@example.com", "longer than 64"),
        ("user@" + ("a" * 60 + ".") * 5 + "com", "not a valid host name"),
        ("a" * 64 + "@" + ("a" * 60 + ".") * 4 + "com", "longer than 254"),
        ("user@-example.com", "not a valid host name"),
        ("user@example..com", "not a valid host name"),
        ("user@exa_mple.com", "not a valid host name"),
        ("user@" + "a" * 64 + ".com", "not a valid host name"),
        ("user@" + "ü" * 64 + ".com", "not a valid IDNA name"),
        ("user@[300.1.1.1]", "not an IP address"),
        ("Name <user@example.com>", "need quoting"),
    ],
)
def test_invalid_addresses(address, message):
    with pytest.raises(InvalidAddress, match=message):
        normalize_address(address)


def test_invalid_address_is_a_value_error():
    with pytest.raises(ValueError):
        normalize_address("nope")


@given(st.text(max_size=100))
def test_any_string_is_normalized_or_refused(address):
    try:
        normalized = normalize_address(address)
    except InvalidAddress:
        return
    assert normalize_address(normalized) == normalized


def test_split_address():
    assert split_address("<Jane@Example.COM>") == ("Jane", "example.com")
    assert split_address('"a@b"@example.com') == ('"a@b"', "example.com")


@pytest.mark.parametrize(
    ("local", "separator", "expected"),
    [
        ("user+tag", "+", ("user", "tag")),
        ("user+a+b", "+", ("user", "a+b")),
        ("user+", "+", ("user", "")),
        ("+tag", "+", ("+tag", None)),
        ("user", "+", ("user", None)),
        ("user-tag", "-", ("user", "tag")),
        ("user+tag", None, ("user+tag", None)),
        ("user+tag", "", ("user+tag", None)),
        ('"user+tag"', "+", ('"user+tag"', None)),
    ],
)
def test_split_subaddress(local, separator, expected):
    assert split_subaddress(local, separator) == expected
