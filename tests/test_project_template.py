"""startproject with project_template/project_name makes a mail project that passes its tests."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "project_template" / "project_name"


def run(args, cwd, env):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_generated_project_is_wired_for_mail_and_its_tests_pass(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    made = run(
        ["-m", "django", "startproject", f"--template={TEMPLATE}", "mysite", str(tmp_path)],
        cwd=tmp_path,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    settings = (tmp_path / "mysite" / "settings.py").read_text()
    for line in [
        'ROOT_MAILCONF = "mysite.mailconf"',
        'EMAIL_BACKEND = "mailserver.backends.QueuedEmailBackend"',
        'MAILSERVER_VERP = "bounces+{token}@example.com"',
        '"mailserver",',
    ]:
        assert line in settings
    assert "{{" not in settings

    checked = run(["manage.py", "check", "--fail-level", "WARNING"], cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    journal = run(
        ["manage.py", "shell", "-c", "from django.db import connection as c; "
         "print(c.cursor().execute('PRAGMA journal_mode').fetchone()[0])"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert journal.stdout.split()[-1] == "wal", journal.stderr  # one write per commit, not several
    tested = run(["manage.py", "test", "--noinput", "-v", "2"], cwd=tmp_path, env=env)
    assert tested.returncode == 0, tested.stderr
    assert "Ran 5 tests" in tested.stderr
