"""``startmailapp`` generates an app whose own tests pass as generated."""

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_generated_app_has_the_mail_files(tmp_path):
    call_command("startmailapp", "helpdesk", str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".py")
    assert names == ["__init__.py", "apps.py", "mailconf.py", "mailviews.py", "tests.py"]
    assert "class HelpdeskConfig(AppConfig)" in (tmp_path / "apps.py").read_text()


def test_generated_app_tests_pass(tmp_path):
    app_dir = tmp_path / "helpdesk"
    app_dir.mkdir()
    call_command("startmailapp", "helpdesk", str(app_dir))
    (tmp_path / "settings.py").write_text(
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth',"
        " 'mailserver', 'helpdesk']\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\n"
        "ROOT_MAILCONF = 'helpdesk.mailconf'\n"
        "USE_TZ = True\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "settings",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "django", "test", "helpdesk", "-v", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    output = proc.stderr.decode()
    assert proc.returncode == 0, output
    assert "Ran 2 tests" in output
