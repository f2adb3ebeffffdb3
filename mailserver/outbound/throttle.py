"""Rate limits held across every worker, counted in recipients.

The token buckets live in the database (``ThrottleBucket``), so two workers on
two machines share one budget; a row lock makes taking tokens atomic. Providers
count recipients, not messages, and so do we.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import router, transaction
from django.utils import timezone

from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError

GLOBAL = "*"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    """``per_second`` tokens flow in; at most ``burst`` can be saved up."""

    per_second: float
    burst: float


def parse_rate(text: str) -> Rate:
    """Parse ``"600/m"``, ``"10/s"`` or ``"1000/2h"``; a burst is one second of rate (min 1)."""
    match = RATE_RE.match(str(text))
    if not match:
        raise MailServerConfigurationError(
            f"Cannot read the rate {text!r}: write it as COUNT/UNIT, such as '600/m' or "
            "'10/s' (units s, m, h, d)."
        )
    count, multiple, unit = match.groups()
    per_second = float(count) / (int(multiple or 1) * UNITS[unit])
    return Rate(per_second, max(1.0, per_second))


def domain_key(domain: str) -> str:
    return "domain:" + domain.lower()


def configured_rates() -> dict[str, Rate]:
    rates = {}
    if app_settings.RATE_LIMIT:
        rates[GLOBAL] = parse_rate(app_settings.RATE_LIMIT)
    for domain, rate in (app_settings.DOMAIN_RATE_LIMITS or {}).items():
        rates[domain_key(domain)] = parse_rate(rate)
    return rates


class Throttle:
    """Take tokens for a message's recipients from the shared buckets, or say how long to wait."""

    def __init__(self, using: str | None = None) -> None:
        from mailserver.models import ThrottleBucket

        self.using = using or router.db_for_write(ThrottleBucket)
        self.rates = configured_rates()
        self._blocked: dict[str, datetime] = {}

    def refresh_blocks(self) -> None:
        """Load the destinations that asked us to slow down (once per batch)."""
        from mailserver.models import ThrottleBucket

        now = timezone.now()
        self._blocked = dict(
            ThrottleBucket.objects.using(self.using)
            .filter(blocked_until__gt=now)
            .values_list("key", "blocked_until")
        )

    def demand(self, addresses: list[str]) -> dict[str, int]:
        """Count tokens ``addresses`` need, per bucket key."""
        counts = {GLOBAL: len(addresses)}
        for address in addresses:
            key = domain_key(address.rpartition("@")[2])
            counts[key] = counts.get(key, 0) + 1
        return counts

    def acquire(self, addresses: list[str]) -> float:
        """Take tokens for ``addresses``; return 0, or the seconds to wait (nothing taken)."""
        counts = self.demand(addresses)
        now = timezone.now()
        wait = max(
            (
                (until - now).total_seconds()
                for key, until in self._blocked.items()
                if key in counts
            ),
            default=0.0,
        )
        if wait > 0:
            return wait
        limited = sorted(key for key in counts if key in self.rates)
        if not limited:
            return 0.0
        return self._take({key: counts[key] for key in limited})

    def _take(self, counts: dict[str, int]) -> float:
        from mailserver.models import ThrottleBucket

        buckets = ThrottleBucket.objects.using(self.using)
        with transaction.atomic(using=self.using):
            rows = {b.key: b for b in buckets.select_for_update().filter(key__in=list(counts))}
            # Read the clock once the rows are locked: a worker that waited for the lock
            # must not stamp the bucket with a time older than its last update.
            now = timezone.now()
            missing = [key for key in counts if key not in rows]
            if missing:
                buckets.bulk_create(
                    [
                        ThrottleBucket(key=key, tokens=self.rates[key].burst, updated_at=now)
                        for key in missing
                    ],
                    ignore_conflicts=True,
                )
                rows = {b.key: b for b in buckets.select_for_update().filter(key__in=list(counts))}
            wait = 0.0
            levels = {}
            for key, needed in counts.items():
                row, rate = rows[key], self.rates[key]
                if row.blocked_until and row.blocked_until > now:
                    wait = max(wait, (row.blocked_until - now).total_seconds())
                    continue
                elapsed = max(0.0, (now - row.updated_at).total_seconds())
                level = min(rate.burst, row.tokens + elapsed * rate.per_second)
                # A message with more recipients than one burst may run the bucket into
                # debt, which later messages pay back; otherwise it could never be sent.
                enough = min(needed, rate.burst)
                if level < enough:
                    wait = max(wait, (enough - level) / rate.per_second)
                levels[key] = level
            if wait > 0:
                return wait
            for key, needed in counts.items():
                rows[key].tokens = levels[key] - needed
                # Never backwards (another machine's clock may run ahead): the time
                # between the two stamps would be credited twice.
                rows[key].updated_at = max(now, rows[key].updated_at)
                rows[key].save(update_fields=["tokens", "updated_at"])
        return 0.0

    def block(self, key: str, duration: timedelta | None = None) -> None:
        """Send nothing through bucket ``key`` for a while (a 421 or a 4.7.x "slow down")."""
        from mailserver.models import ThrottleBucket

        until = timezone.now() + (duration or app_settings.THROTTLE_BACKOFF)
        rate = self.rates.get(key)
        ThrottleBucket.objects.using(self.using).update_or_create(
            key=key,
            defaults={"blocked_until": until},
            create_defaults={"blocked_until": until, "tokens": rate.burst if rate else 0},
        )
        self._blocked[key] = until
