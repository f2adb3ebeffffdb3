"""The suppression list: how addresses compare, the CSV command, the admin pages."""

import csv
import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from mailserver import signals
from mailserver.models import Bounce, Suppression
from mailserver.suppression import is_suppressed, normalize, suppress, unsuppress

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("settings", "stored", "asked", "suppressed"),
    [
        ({}, "Jo@Example.NET", "jo@example.net", True),
        ({}, "jo@example.net", "JO@EXAMPLE.NET", True),
        ({}, "jo@example.net", "jo+news@example.net", False),
        ({"MAILSERVER_CASE_SENSITIVE_LOCALPART": True}, "Jo@example.net", "Jo@EXAMPLE.net", True),
        ({"MAILSERVER_CASE_SENSITIVE_LOCALPART": True}, "Jo@example.net", "jo@example.net", False),
        (
            {"MAILSERVER_SUPPRESS_SUBADDRESSES": True},
            "jo@example.net",
            "jo+news@example.net",
            True,
        ),
        ({"MAILSERVER_SUPPRESS_SUBADDRESSES": True}, "jo+a@example.net", "jo+b@example.net", True),
    ],
)
def test_how_addresses_compare(settings, stored, asked, suppressed):
    with override_settings(**settings):
        suppress(stored, Suppression.Reason.MANUAL)
        assert is_suppressed(asked) is suppressed


def test_normalize_strips_angle_brackets_and_space():
    assert normalize(" <Jo@Example.net> ") == "jo@example.net"


def test_suppress_sends_the_signal_and_unsuppress_removes():
    heard = []
    signals.address_suppressed.connect(lambda **kw: heard.append(kw["suppression"]), weak=False)
    try:
        suppress("jo@example.net", Suppression.Reason.COMPLAINT)
    finally:
        signals.address_suppressed.receivers.clear()
    assert [s.reason for s in heard] == ["complaint"]
    assert unsuppress("JO@example.net") is True
    assert not is_suppressed("jo@example.net")
    assert unsuppress("jo@example.net") is False


def test_export_then_import_round_trips(tmp_path):
    suppress("a@example.net", Suppression.Reason.BOUNCE, source="bounce:1")
    suppress("b@example.net", Suppression.Reason.UNSUBSCRIBE)
    path = tmp_path / "list.csv"
    call_command("suppression", "export", str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["address"], r["reason"]) for r in rows] == [
        ("a@example.net", "bounce"),
        ("b@example.net", "unsubscribe"),
    ]
    Suppression.objects.all().delete()
    call_command("suppression", "import", str(path), stdout=io.StringIO())
    assert dict(Suppression.objects.values_list("address", "reason")) == {
        "a@example.net": "bounce",
        "b@example.net": "unsubscribe",
    }


def test_import_takes_a_bare_list_of_addresses(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("address\nOne@Example.net\n\ntwo@example.net\n")
    out = io.StringIO()
    call_command("suppression", "import", str(path), stdout=out)
    assert "Imported 2 addresses." in out.getvalue()
    assert set(Suppression.objects.values_list("address", "reason")) == {
        ("one@example.net", "manual"),
        ("two@example.net", "manual"),
    }


def test_export_writes_to_standard_output():
    suppress("a@example.net", Suppression.Reason.MANUAL)
    out = io.StringIO()
    call_command("suppression", "export", stdout=out)
    assert out.getvalue().splitlines()[1].startswith("a@example.net,manual,")


def test_admin_adds_and_removes_suppressions(admin_client):
    response = admin_client.post(
        "/admin/mailserver/suppression/add/",
        {"address": "Jo@Example.net", "reason": "manual", "source": "support ticket"},
    )
    assert response.status_code == 302
    row = Suppression.objects.get()
    assert row.address == "jo@example.net"
    response = admin_client.post(
        f"/admin/mailserver/suppression/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Suppression.objects.exists()


def test_admin_lists_bounces(admin_client):
    Bounce.objects.create(address="jo@example.net", kind="hard", status="5.1.1")
    response = admin_client.get("/admin/mailserver/bounce/")
    assert response.status_code == 200
    assert b"jo@example.net" in response.content
