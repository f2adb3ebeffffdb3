"""µs per ``resolve()`` with 10, 1,000 and 10,000 routes, indexed and linear.

Run it from the repository root::

    python bench/bench_resolve.py            # full run, about 20 seconds
    python bench/bench_resolve.py --quick    # a smoke run: the same sizes, fewer runs
    python bench/bench_resolve.py --json results.json

Three kinds of routes: literal addresses, addresses with a converter
(``t1-<int:pk>@d1.example.com``) and ``include()``s, each under a domain of its own.
For each kind and size, our ``Resolver`` is measured against ``LinearResolver``, which
tries every pattern in order, over the same routes, pair by pair (``common.compare``).
A run is the mean time of one ``resolve()`` over a list of addresses: 90 % hits spread
over all routes and 10 % misses, so the linear resolver pays its average case.

The issue's target, "10,000 routes cost at most 3 times what 10 routes cost", is a figure of
its own per kind: ours with 10,000 routes against ours with 10, pair by pair as well.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import common
from common import Figure, Report, compared

SIZES = (10, 1_000, 10_000)
#: Hits per list of addresses; a tenth as many misses come on top.
HITS = 900
#: The shortest run, in seconds: a run resolves its addresses as many times as it takes,
#: so that neither the clock's resolution nor one interruption decides a figure.
SHORTEST_RUN = 0.02
UNIT = "µs/resolve"


def view(request, **kwargs):
    return None


def literal_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    from mailserver.routing import route

    patterns = [route(f"user{n}@d{n % 100}.example.com", view) for n in range(count)]
    hits = [f"user{n}@d{n % 100}.example.com" for n in _sample(count, rng)]
    return patterns, hits


def converter_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    from mailserver.routing import route

    patterns = [route(f"t{n}-<int:pk>@d{n}.example.com", view) for n in range(count)]
    hits = [f"t{n}-{rng.randrange(10**6)}@d{n}.example.com" for n in _sample(count, rng)]
    return patterns, hits


def include_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    from mailserver.routing import include, route

    included = [route("post", view, name="post"), route("<slug:list>-request", view)]
    patterns = [
        route(f"@lists{n}.example.com", include(included, namespace=f"l{n}")) for n in range(count)
    ]
    hits = [
        f"{rng.choice(['post', 'dev-request'])}@lists{n}.example.com" for n in _sample(count, rng)
    ]
    return patterns, hits


KINDS = {"literal": literal_routes, "converter": converter_routes, "include": include_routes}


def _sample(count: int, rng: random.Random) -> list[int]:
    return [rng.randrange(count) for _ in range(HITS)]


@dataclass(frozen=True)
class Routes:
    """``size`` routes of one kind, and the addresses a run resolves against them."""

    kind: str
    size: int
    patterns: list
    addresses: list[str]

    @classmethod
    def make(cls, kind: str, size: int) -> Routes:
        rng = random.Random(size)
        patterns, hits = KINDS[kind](size, rng)
        misses = [f"nobody{n}@d{n}.example.com" for n in range(len(hits) // 9)]
        addresses = hits + misses
        rng.shuffle(addresses)
        return cls(kind, size, patterns, addresses)

    @property
    def linear_addresses(self) -> list[str]:
        """The first of the addresses, fewer with more routes: the linear scan is slow.

        The addresses are shuffled, so these are a sample of the same mix of hits and
        misses, and the mean of one resolve() is comparable.
        """
        return self.addresses[: max(50, 100_000 // self.size)]


def resolving(resolver, addresses: list[str]) -> Callable[[], float]:
    """One run for ``common.compare``: the mean µs of one ``resolver.resolve()``.

    The first addresses are resolved once beforehand, untimed, to build the index.
    """
    resolve_all(resolver, addresses[:10])
    passes = math.ceil(SHORTEST_RUN / resolve_all(resolver, addresses))

    def run() -> float:
        seconds = sum(resolve_all(resolver, addresses) for _ in range(passes))
        return seconds / (passes * len(addresses)) * 1e6

    return run


def resolve_all(resolver, addresses: list[str]) -> float:
    """Resolve every address, found or not; return the seconds it took."""
    from mailserver.exceptions import NoRoute

    started = time.perf_counter()
    for address in addresses:
        # Not contextlib.suppress(): its cost would be timed too.
        try:  # noqa: SIM105
            resolver.resolve(address)
        except NoRoute:
            pass
    return time.perf_counter() - started


def against_linear(routes: Routes, runs: int) -> Figure:
    """Our resolver against the linear scan, over the same routes."""
    from mailserver.routing import Resolver
    from mailserver.routing.resolvers import LinearResolver

    ours = resolving(Resolver(routes.patterns), routes.addresses)
    linear = resolving(LinearResolver(routes.patterns), routes.linear_addresses)
    name = f"{routes.kind}, {routes.size:,} routes"
    figure = compared(name, UNIT, ours, linear, runs, "linear")
    figure.details = {
        "addresses": len(routes.addresses),
        "linear_addresses": len(routes.linear_addresses),
    }
    return figure


def growth(small: Routes, large: Routes, runs: int) -> Figure:
    """The issue's target: ours with ``large.size`` routes against ours with ``small.size``."""
    from mailserver.routing import Resolver

    return compared(
        f"{large.kind}, {large.size:,} routes vs {small.size:,}",
        UNIT,
        resolving(Resolver(large.patterns), large.addresses),
        resolving(Resolver(small.patterns), small.addresses),
        runs,
        f"{small.size:,} routes",
        target="<= 3",
    )


def setup_django() -> None:
    import django
    from django.conf import settings

    settings.configure(SECRET_KEY="bench-resolve", USE_TZ=True)
    django.setup()


def main() -> None:
    options = common.arguments(__doc__.splitlines()[0], runs=7)
    setup_django()
    report = Report(f"resolve(): {UNIT}, the indexed Resolver vs LinearResolver")
    for kind in KINDS:
        routes = [Routes.make(kind, size) for size in SIZES]
        for each in routes:
            report.add(against_linear(each, options.runs))
        report.add(growth(routes[0], routes[-1], options.runs))
    report.note(
        f"Each list of addresses: {HITS} hits over all routes and {HITS // 9} misses, "
        "shuffled; the linear scan resolves the first max(50, 100,000 / routes) of them."
    )
    common.finish(report, options)


if __name__ == "__main__":
    main()
