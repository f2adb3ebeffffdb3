"""Routing: patterns, converters, includes, reverse, subaddresses, case, signed tokens, checks."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from mailserver.checks_routing import check_routing
from mailserver.exceptions import MailServerConfigurationError
from mailserver.routing import (
    NoReverseMatch,
    NoRoute,
    Resolver,
    get_resolver,
    include,
    re_route,
    register_converter,
    resolve,
    reverse,
    route,
)
from mailserver.routing.converters import SignedConverter
from mailserver.routing.resolvers import LinearResolver
from mailserver.routing.signing import sign, unsign
from tests.mailconfs import lists
from tests.mailconfs import routing as mailconf


@pytest.fixture(autouse=True)
def routing_mailconf():
    with override_settings(ROOT_MAILCONF="tests.mailconfs.routing"):
        yield


KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("address", "view", "view_name", "kwargs"),
    [
        ("help@example.com", mailconf.new_ticket, "help", {}),
        ("<help@example.com>", mailconf.new_ticket, "help", {}),
        ("  HELP@Example.COM. ", mailconf.new_ticket, "help", {}),
        ("ticket-42@example.com", mailconf.reply, "ticket-reply", {"pk": 42}),
        ("post@lists.example.com", lists.post, "lists:post", {}),
        ("dev-subscribe@lists.example.com", lists.subscribe, "lists:subscribe", {"list": "dev"}),
        ("dev-digest@lists.example.com", lists.subscribe, "lists:digest", {"list": "dev"}),
        ("anything@lists.example.com", lists.post, "lists:list", {"list": "anything"}),
        ("jane.doe@users.example.com", mailconf.user_mail, "user-mail", {"user": "jane.doe"}),
        ("bounces+abc@example.com", None, "bounces", {"token": "abc"}),
        (f"{KEY}@keys.example.com", mailconf.reply, "key", {"key": KEY}),
        ("postmaster@example.net", mailconf.anywhere, "postmaster", {}),
        ("postmaster@xn--bcher-kva.example", mailconf.anywhere, "postmaster", {}),
        ("postmaster@bücher.example", mailconf.anywhere, "postmaster", {}),
        ("who@catchall.example.com", mailconf.catch_all, "catch-all", {"kind": "catch-all"}),
        ("post@acme.orgs.example.com", lists.post, "orgs:post", {"org": "acme"}),
        ("x-subscribe@acme.orgs.example.com", lists.subscribe, "orgs:subscribe",
         {"org": "acme", "list": "x"}),
    ],
)  # fmt: skip
def test_resolve(address, view, view_name, kwargs):
    match = resolve(address)
    assert match.view_name == view_name
    assert match.route_name == view_name.rpartition(":")[2]
    assert match.kwargs == kwargs
    if view is not None:
        assert match.func is view
        assert match[0] is view


def test_match_attributes():
    match = resolve("<Dev-Subscribe+x@Lists.Example.com>")
    assert match.address == "Dev-Subscribe+x@lists.example.com"
    assert match.subaddress == "x"
    assert (match.namespace, match.app_name, match.namespaces) == ("lists", "lists", ["lists"])
    assert match.route == "<slug:list>-subscribe@lists.example.com"
    assert match.args == ()


@pytest.mark.parametrize(
    "address",
    [
        "nobody@example.com",
        "ticket-x@example.com",
        "help@example.org",
        "post@other.lists.example.com",
        "Jane_Doe@users.example.com",
        "not-a-uuid@keys.example.com",
        "",
        "help",
        "@relay:help@example.com",
        "help@@example.com",
        "help@example..com",
        "a" * 65 + "@example.com",
    ],
)
def test_no_route(address):
    with pytest.raises(NoRoute) as caught:
        resolve(address)
    assert isinstance(caught.value.tried, list)


def test_no_route_lists_what_was_tried():
    with pytest.raises(NoRoute) as caught:
        resolve("nobody@example.com")
    tried = [str(chain[-1].pattern) for chain in caught.value.tried]
    assert "ticket-<int:pk>@example.com" in tried
    assert "help@example.com" not in tried  # another literal address: never a candidate


@given(st.text(max_size=80))
def test_any_string_resolves_or_raises_no_route(address):
    try:
        match = resolve(address)
    except NoRoute:
        return
    assert match.address


def test_view_given_as_dotted_path_is_imported_at_resolve_time():
    from mailserver import views

    # mailserver.views.bounce exists since issue 5; a path that names nothing fails late.
    assert resolve("bounces+abc@example.com").func is views.bounce
    missing = Resolver([route("x@docs.example.com", "tests.mailconfs.routing.no_such_view")])
    match = missing.resolve("x@docs.example.com")
    with pytest.raises(MailServerConfigurationError, match=r"routing\.no_such_view"):
        match.func  # noqa: B018
    resolver = Resolver([route("info@docs.example.com", "tests.mailconfs.routing.reply")])
    assert resolver.resolve("info@docs.example.com").func is mailconf.reply


def test_first_matching_pattern_wins():
    def first(request):
        pass

    def second(request):
        pass

    resolver = Resolver(
        [
            route("<str:user>@example.com", first),
            route("help@example.com", second),
            route("help", second),
        ]
    )
    assert resolver.resolve("help@example.com").func is first
    assert resolver.resolve("help@example.org").func is second


def test_re_route_positional_groups_become_args():
    resolver = Resolver([re_route(r"^(\w+)-(\d+)@example\.com$", mailconf.reply)])
    assert resolver.resolve("order-7@example.com").args == ("order", "7")


def test_include_of_a_list_with_app_name_and_default_kwargs():
    resolver = Resolver(
        [
            route(
                "@corp.example.com",
                include(([route("hr", lists.post, {"team": "hr"}, name="hr")], "corp"), "acme"),
                {"corp": True},
            ),
            route("", include([route("any@example.net", lists.post, name="any")])),
        ]
    )
    match = resolver.resolve("hr@corp.example.com")
    assert (match.view_name, match.app_name, match.kwargs) == (
        "acme:hr",
        "corp",
        {"corp": True, "team": "hr"},
    )
    assert resolver.reverse("acme:hr") == resolver.reverse("corp:hr") == "hr@corp.example.com"
    assert resolver.resolve("any@example.net").route_name == "any"


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "address"),
    [
        ("help", None, None, "help@example.com"),
        ("ticket-reply", None, {"pk": 5}, "ticket-5@example.com"),
        ("ticket-reply", [5], None, "ticket-5@example.com"),
        ("lists:post", None, None, "post@lists.example.com"),
        ("lists:subscribe", None, {"list": "dev"}, "dev-subscribe@lists.example.com"),
        ("lists:digest", None, {"list": "news"}, "news-digest@lists.example.com"),
        ("user-mail", None, {"user": "jane"}, "jane@users.example.com"),
        ("bounces", None, {"token": "t0k"}, "bounces+t0k@example.com"),
        ("key", None, {"key": KEY}, f"{KEY}@keys.example.com"),
        ("orgs:subscribe", None, {"org": "a", "list": "x"}, "x-subscribe@a.orgs.example.com"),
        ("catch-all", None, {"kind": "catch-all"}, None),
    ],
)  # fmt: skip
def test_reverse_round_trips(name, args, kwargs, address):
    if address is None:
        with pytest.raises(NoReverseMatch, match="any local part"):
            reverse(name, args, kwargs)
        return
    assert reverse(name, args, kwargs) == address
    match = resolve(address)
    assert match.view_name == name
    assert match.kwargs == (kwargs or {} if args is None else {"pk": 5})


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("nope", {}, "No mail route is named 'nope'"),
        ("ticket-reply", {}, "did not take those arguments"),
        ("ticket-reply", {"pk": "abc"}, "did not take those arguments"),
        ("ticket-reply", {"pk": 5, "extra": 1}, "did not take those arguments"),
        ("postmaster", {}, "any domain"),
        ("bounces", {"token": "has+sep"}, "did not take those arguments"),
        ("bounces", {"token": "x" * 60}, "longer than 64 octets"),
        ("post", {}, "No mail route is named 'post'"),
    ],
)
def test_reverse_failures(name, kwargs, message):
    with pytest.raises(NoReverseMatch, match=message):
        reverse(name, kwargs=kwargs)


def test_reverse_refuses_mixed_args_and_kwargs():
    with pytest.raises(ValueError, match="mix"):
        reverse("ticket-reply", [1], {"pk": 1})


@pytest.mark.parametrize(
    ("address", "view_name", "subaddress"),
    [
        ("help+urgent@example.com", "help", "urgent"),
        ("help+a+b@example.com", "help", "a+b"),
        ("help+@example.com", "help", ""),
        ("bounces+abc@example.com", "bounces", None),  # the whole local part matches
        ("ticket-5+x@example.com", "ticket-reply", "x"),
        ("who+tag@catchall.example.com", "catch-all", "tag"),
        ("x+y@lists.example.com", "lists:list", "y"),
    ],
)
def test_subaddress(address, view_name, subaddress):
    match = resolve(address)
    assert (match.view_name, match.subaddress) == (view_name, subaddress)


@override_settings(MAILSERVER_SUBADDRESS_SEPARATOR="-")
def test_subaddress_separator_setting():
    match = resolve("help-urgent@example.com")
    assert (match.view_name, match.subaddress) == ("help", "urgent")
    assert resolve("help+urgent@lists.example.com").kwargs == {"list": "help+urgent"}


@override_settings(MAILSERVER_SUBADDRESS_SEPARATOR=None)
def test_subaddresses_off():
    with pytest.raises(NoRoute):
        resolve("help+urgent@example.com")


@pytest.mark.parametrize(
    ("address", "sensitive", "matches"),
    [
        ("HELP@EXAMPLE.COM", False, True),
        ("HELP@EXAMPLE.COM", True, False),
        ("help@EXAMPLE.COM", True, True),
        ("Ticket-5@example.com", False, True),
        ("Ticket-5@example.com", True, False),
        ("Jane@users.example.com", False, True),
        ("Jane@users.example.com", True, False),
    ],
)
def test_case_rules(address, sensitive, matches):
    with override_settings(MAILSERVER_CASE_SENSITIVE_LOCALPART=sensitive):
        if matches:
            assert resolve(address)
        else:
            with pytest.raises(NoRoute):
                resolve(address)


def test_captured_values_keep_their_case():
    assert resolve("Dev-Subscribe@lists.example.com").kwargs == {"list": "Dev"}


@pytest.mark.parametrize(
    "value", [1234567890, "abc", "", "Mixed Case/ü+@.", "x" * 20, 0]
)  # fmt: skip
def test_signed_token_round_trip(value):
    address = reverse("signed-reply", kwargs={"token": value})
    local = address.partition("@")[0]
    assert set(local) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert resolve(address).kwargs == {"token": str(value)}
    # MTAs may change the case of a local part.
    assert resolve(address.upper()).kwargs == {"token": str(value)}


def test_signed_local_part_fits_rfc_5321():
    address = reverse("signed-reply", kwargs={"token": 9876543210})
    assert len(address.partition("@")[0].encode()) <= 64
    assert len(address.partition("@")[0]) == len("reply-") + 21


def test_tampered_signed_token_does_not_match():
    address = reverse("signed-reply", kwargs={"token": 1234567890})
    local, _, domain = address.partition("@")
    for position in range(len("reply-"), len(local)):
        changed = "1" if local[position] != "1" else "2"
        forged = f"{local[:position]}{changed}{local[position + 1 :]}@{domain}"
        with pytest.raises(NoRoute):
            resolve(forged)


def test_signed_token_from_another_secret_key_does_not_match():
    with override_settings(SECRET_KEY="another-secret-key-entirely"):
        address = reverse("signed-reply", kwargs={"token": 7})
    with pytest.raises(NoRoute):
        resolve(address)
    rotated = {"SECRET_KEY": "rotated", "SECRET_KEY_FALLBACKS": ["another-secret-key-entirely"]}
    with override_settings(**rotated):
        assert resolve(address).kwargs == {"token": "7"}


def test_expiring_signed_tokens():
    register_converter(SignedConverter(max_age=timedelta(days=30)), "signed30d")
    resolver = Resolver([route("r-<signed30d:token>@example.com", mailconf.reply, name="r")])
    address = resolver.reverse("r", kwargs={"token": 42})
    assert resolver.resolve(address).kwargs == {"token": "42"}
    assert len(address.partition("@")[0]) == len("r-") + 1 + 7 + 2 + 10
    assert unsign(sign("x", expires=datetime(2999, 1, 1, tzinfo=UTC))) == "x"
    with pytest.raises(ValueError, match="expired"):
        SignedConverter().to_python(sign("x", expires=timedelta(seconds=-1)))


def test_register_converter():
    class HexConverter:
        regex = "[0-9a-f]+"

        def to_python(self, value):
            return int(value, 16)

        def to_url(self, value):
            return f"{value:x}"

    register_converter(HexConverter, "hex")
    resolver = Resolver([route("order-<hex:number>@example.com", mailconf.reply, name="order")])
    assert resolver.resolve("order-ff@example.com").kwargs == {"number": 255}
    assert resolver.reverse("order", [255]) == "order-ff@example.com"
    with pytest.raises(ValueError, match="already registered"):
        register_converter(HexConverter, "hex")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: route("<nope:x>@example.com", mailconf.reply), "invalid converter 'nope'"),
        (lambda: route("<int:1x>@example.com", mailconf.reply), "valid Python identifier"),
        (lambda: route("<a>-<a>@example.com", mailconf.reply), "twice"),
        (lambda: route("a@b@example.com", mailconf.reply), "more than one '@'"),
        (lambda: route("help@", mailconf.reply), "ends with '@'"),
        (lambda: route("help", include([])), "cannot include"),
        (lambda: route("@x.com", include([]), name="x"), "cannot have a name"),
        (lambda: re_route("(", mailconf.reply), "invalid"),
    ],
)
def test_plainly_wrong_routes_fail_at_import(make, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        make()


def test_view_must_be_callable_path_or_include():
    with pytest.raises(TypeError, match="must be a callable"):
        route("help@example.com", 42)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ([route("@a.com", include([route("x@b.com", mailconf.reply)]))], "write it without '@'"),
        ([route("@a.com", include([route("@b.com", include([]))]))], "already matched"),
        ([route("@a.com", include("tests.mailconfs.missing"))], "cannot be imported"),
        (["help@example.com"], "is not a pattern"),
    ],
)
def test_bad_includes_fail_when_the_resolver_loads(patterns, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        Resolver(patterns).resolve("x@a.com")


def test_get_resolver_is_cached_and_follows_root_mailconf():
    assert get_resolver() is get_resolver()
    with override_settings(ROOT_MAILCONF="tests.mailconfs.basic"):
        assert resolve("echo@example.com").route_name == "echo"
    assert resolve("help@example.com").route_name == "help"
    with override_settings(ROOT_MAILCONF=None), pytest.raises(MailServerConfigurationError):
        resolve("help@example.com")


@pytest.mark.parametrize(
    ("mailconf", "ids"),
    [
        ("tests.mailconfs.routing", []),
        (None, ["mailserver.E001"]),
        ("tests.mailconfs.does_not_exist", ["mailserver.E001"]),
        ("tests.mailconfs.broken_patterns", ["mailserver.E002"]),
        ("tests.mailconfs.invalid_route", ["mailserver.E001"]),
        (
            "tests.mailconfs.unreachable",
            ["mailserver.W001"] + ["mailserver.W002"] * 4,
        ),
    ],
)
def test_checks(mailconf, ids):
    with override_settings(ROOT_MAILCONF=mailconf):
        messages = check_routing(None)
    assert [message.id for message in messages] == ids
    assert all(message.hint for message in messages)


def test_unreachable_routes_are_named():
    with override_settings(ROOT_MAILCONF="tests.mailconfs.unreachable"):
        texts = [message.msg for message in check_routing(None) if message.id.endswith("W002")]
    assert [text.split("'")[1] for text in texts] == [
        "help@example.com",
        "two words@example.com",
        "x@-bad-.example.com",
        "info@catchall.example.com",
    ]


# The index must give exactly the answers of trying every route in order.

DOMAINS = [f"d{n}.example.com" for n in range(40)] + ["example.com", "lists.example.org"]
LOCALS = ["help", "info", "sales", "Help", "ticket-1", "ticket-22", "a+b", "x-7", "list-news"]


CONVERTER_LOCALS = ["ticket-<int:pk>", "<str:u>", "x-<int:n>"]
CONVERTER_DOMAINS = ["@<slug:sub>.example.com", "info@<slug:s>.example.com"]
REGEX_LOCALS = ["help", "a", "x-[0-9]+"]


def _random_routes(rng: random.Random, count: int) -> list:
    def view(request, **kwargs):
        pass

    routes = []
    for n in range(count):
        domain = rng.choice(DOMAINS)
        kind = rng.randrange(10)
        if kind < 4:
            routes.append(route(f"{rng.choice(LOCALS)}@{domain}", view, name=f"r{n}"))
        elif kind == 4:
            routes.append(route(f"{rng.choice(CONVERTER_LOCALS)}@{domain}", view))
        elif kind == 5:
            routes.append(route(rng.choice(LOCALS), view))
        elif kind == 6:
            sub = [route(rng.choice(LOCALS), view), route("list-<slug:name>", view)]
            routes.append(route(f"@{domain}", include(sub, namespace=f"n{n}")))
        elif kind == 7:
            routes.append(route(rng.choice(CONVERTER_DOMAINS), view))
        elif kind == 8:
            regex = rf"^{rng.choice(REGEX_LOCALS)}@d1\d?\.example\.com$"
            routes.append(re_route(regex, view))
        elif rng.random() < 0.05:
            routes.append(route(f"@{domain}", view))  # a rare catch-all
        else:
            routes.append(route(f"help{n}@{domain}", view))
    return routes


def _random_address(rng: random.Random) -> str:
    local = rng.choice([*LOCALS, f"help{rng.randrange(10_000)}", "nobody", "x-5+t", "Sales+tag"])
    return f"{local}@{rng.choice([*DOMAINS, 'other.org', 'ex.d3.example.com'])}"


def _outcome(resolver, address):
    try:
        match = resolver.resolve(address)
    except NoRoute:
        return None
    return (match.route, match.view_name, match.kwargs, match.subaddress, match._callback)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "mode",
    [
        {},
        {"MAILSERVER_CASE_SENSITIVE_LOCALPART": True},
        {"MAILSERVER_SUBADDRESS_SEPARATOR": "-"},
        {"MAILSERVER_SUBADDRESS_SEPARATOR": None},
    ],
)
def test_index_agrees_with_linear_search(seed, mode):
    rng = random.Random(seed)
    patterns = _random_routes(rng, 10_000)
    indexed, linear = Resolver(patterns), LinearResolver(patterns)
    with override_settings(**mode):
        outcomes = []
        for _ in range(300):
            address = _random_address(rng)
            outcome = _outcome(indexed, address)
            assert outcome == _outcome(linear, address), address
            outcomes.append(outcome)
    assert sum(outcome is not None for outcome in outcomes) > 100  # the test exercises hits
