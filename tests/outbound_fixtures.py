"""Fixtures for the outbound tests: SMTP sinks, a scratch PostgreSQL database, worker processes."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.test import override_settings

from mailserver.test.smtpsink import SMTPSink
from tests.servers import require

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


# Django 6.1 deprecates EMAIL_BACKEND and EMAIL_* for MAILERS (and forbids them next to
# it): these helpers give the settings in the style of the running Django.
MAILERS_STYLE = django.VERSION >= (6, 1)


def deliver_with(backend: str, **options) -> dict:
    """Settings that make the queue worker deliver through ``backend``."""
    if not MAILERS_STYLE:
        return {"MAILSERVER_DELIVERY_BACKEND": backend}
    return combine(
        {
            "MAILERS": {"delivery": {"BACKEND": backend, "OPTIONS": options}},
            "MAILSERVER_DELIVERY_BACKEND": "delivery",
        }
    )


def deliver_to(host: str, port: int, timeout: float | None = None) -> dict:
    """Settings that make the queue worker deliver over SMTP to ``host:port``."""
    options = {"host": host, "port": port}
    if timeout is not None:
        options["timeout"] = timeout
    if not MAILERS_STYLE:
        return {f"EMAIL_{name.upper()}": value for name, value in options.items()}
    return deliver_with("mailserver.backends.smtp.DeliveryBackend", **options)


def queued_by_default() -> dict:
    """Settings that make the site's default email backend the queue."""
    if not MAILERS_STYLE:
        return {"EMAIL_BACKEND": "mailserver.backends.QueuedEmailBackend"}
    return combine({"MAILERS": {"default": {"BACKEND": "mailserver.backends.QueuedEmailBackend"}}})


def combine(*parts: dict) -> dict:
    """Merge settings from the helpers above: each MAILERS alias set wins over the
    project's own, later parts over earlier ones."""
    merged: dict = {}
    for part in parts:
        for name, value in part.items():
            if name == "MAILERS":
                project = getattr(settings, "MAILERS", {})
                own = {k: v for k, v in value.items() if v != project.get(k)}
                merged[name] = {**merged.get(name, project), **own}
            else:
                merged[name] = value
    return merged


@pytest.fixture
def sink():
    """An SMTP sink on 127.0.0.1 that the delivery backend points at."""
    with SMTPSink() as running, override_settings(**deliver_to("127.0.0.1", running.port)):
        yield running


@pytest.fixture
def slow_sink():
    """A sink that takes ~20 ms per message, as a real smarthost does."""
    with SMTPSink(delay=0.02) as running:
        yield running


@pytest.fixture
def postgres_database():
    """Create an empty PostgreSQL database with the project's tables; drop it afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **PG)
    except Exception as exc:  # any reason means: no server to test against
        require(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc})")
    name = f"mailserver_outbound_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        django_command(["migrate", "--run-syncdb", "-v", "0"], pg=name)
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def worker_env(pg: str | None = None, sqlite: str | None = None, **extra) -> dict:
    env = dict(os.environ)
    env.pop("CI", None)
    env.update(DJANGO_SETTINGS_MODULE="tests.settings_outbound", PYTHONPATH=str(ROOT))
    if pg:
        env["MAILSERVER_TEST_PG"] = pg
    if sqlite:
        env["MAILSERVER_TEST_DB"] = sqlite
    env.update({k: str(v) for k, v in extra.items()})
    return env


def django_command(args, timeout=60, **env) -> subprocess.CompletedProcess:
    """Run ``python -m django ARGS`` against the scratch database; fail on error."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=worker_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def start_worker(command="runmailqueue", *args, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "django", command, *args],
        env=worker_env(**env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def pg_rows(database: str, sql: str, params=()):
    import psycopg

    with psycopg.connect(dbname=database, **PG) as connection:
        return connection.execute(sql, params).fetchall()
