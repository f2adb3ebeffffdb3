"""Measure resolve() with 10, 1,000 and 10,000 routes, indexed and linear.

Run it from the repository root::

    python bench/bench_resolve.py            # full run
    python bench/bench_resolve.py --quick    # a smoke run of a few seconds
    python bench/bench_resolve.py --json results.json

Each figure is the median, over several runs, of the mean time of one
``Resolver.resolve()`` in microseconds. The addresses are 90 % hits spread over
all routes and 10 % misses, so the linear resolver pays its average case.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

settings.configure(SECRET_KEY="bench-resolve", USE_TZ=True)
django.setup()

from mailserver.exceptions import NoRoute  # noqa: E402
from mailserver.routing import Resolver, include, route  # noqa: E402
from mailserver.routing.resolvers import LinearResolver  # noqa: E402


def view(request, **kwargs):
    return None


def literal_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    patterns = [route(f"user{n}@d{n % 100}.example.com", view) for n in range(count)]
    hits = [f"user{n}@d{n % 100}.example.com" for n in _sample(count, rng)]
    return patterns, hits


def converter_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    patterns = [route(f"t{n}-<int:pk>@d{n}.example.com", view) for n in range(count)]
    hits = [f"t{n}-{rng.randrange(10**6)}@d{n}.example.com" for n in _sample(count, rng)]
    return patterns, hits


def include_routes(count: int, rng: random.Random) -> tuple[list, list[str]]:
    included = [route("post", view, name="post"), route("<slug:list>-request", view)]
    patterns = [
        route(f"@lists{n}.example.com", include(included, namespace=f"l{n}")) for n in range(count)
    ]
    hits = [
        f"{rng.choice(['post', 'dev-request'])}@lists{n}.example.com" for n in _sample(count, rng)
    ]
    return patterns, hits


KINDS = {"literal": literal_routes, "converter": converter_routes, "include": include_routes}


def _sample(count: int, rng: random.Random, size: int = 900) -> list[int]:
    return [rng.randrange(count) for _ in range(size)]


def addresses_for(hits: list[str], rng: random.Random) -> list[str]:
    misses = [f"nobody{n}@d{n}.example.com" for n in range(len(hits) // 9)]
    addresses = hits + misses
    rng.shuffle(addresses)
    return addresses


def time_resolver(resolver: Resolver, addresses: list[str], runs: int) -> float:
    """Return the median over ``runs`` of the mean µs per resolve."""
    for address in addresses[:10]:  # build the index outside the timing
        _resolve(resolver, address)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for address in addresses:
            _resolve(resolver, address)
        samples.append((time.perf_counter() - start) / len(addresses) * 1e6)
    return statistics.median(samples)


def _resolve(resolver: Resolver, address: str) -> None:
    # Not contextlib.suppress(): its cost would be timed too.
    try:  # noqa: SIM105
        resolver.resolve(address)
    except NoRoute:
        pass


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few routes and runs: a smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    options = parser.parse_args(argv)
    sizes = (10, 1_000) if options.quick else (10, 1_000, 10_000)
    runs = 3 if options.quick else 7
    results = {}
    print(f"{'routes':>8} {'kind':<10} {'indexed µs':>11} {'linear µs':>11}")
    for kind, make in KINDS.items():
        for size in sizes:
            rng = random.Random(size)
            patterns, hits = make(size, rng)
            addresses = addresses_for(hits, rng)
            indexed = time_resolver(Resolver(patterns), addresses, runs)
            # The linear resolver is slow by design: time fewer addresses with many routes.
            linear_addresses = addresses[: max(50, 100_000 // size)]
            linear = time_resolver(LinearResolver(patterns), linear_addresses, runs)
            results[f"{kind}/{size}"] = {"indexed_us": indexed, "linear_us": linear}
            print(f"{size:>8} {kind:<10} {indexed:>11.2f} {linear:>11.2f}")
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
