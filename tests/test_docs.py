"""The reference pages name every setting and every command option the code has."""

import argparse
import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

from mailserver.conf import DEFAULTS, setting_name

REF = Path(__file__).resolve().parent.parent / "docs" / "ref"

# Options every Django command has; the page says so once instead of per command.
COMMON_OPTIONS = {
    "--help", "--version", "--verbosity", "--settings", "--pythonpath", "--traceback",
    "--no-color", "--force-color", "--skip-checks",
}  # fmt: skip


def mailserver_commands() -> list[str]:
    return sorted(name for name, app in get_commands().items() if app == "mailserver")


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_setting_is_in_the_settings_reference(name):
    page = (REF / "settings.rst").read_text()
    assert f"``{setting_name(name)}``\n    Default:" in page


@pytest.mark.parametrize("command", mailserver_commands())
def test_every_command_and_option_is_in_the_commands_reference(command):
    page = (REF / "commands.rst").read_text()
    parts = re.split(r"^``([a-z]+)``\n-+\n", page, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert command in sections, f"docs/ref/commands.rst has no section for {command}"
    section = sections[command]
    parser = load_command_class("mailserver", command).create_parser("manage.py", command)
    options = {
        option
        for action in parser._actions
        if action.help is not argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--")
    }
    missing = sorted(o for o in options - COMMON_OPTIONS if o not in section)
    assert not missing, f"docs/ref/commands.rst does not describe {missing} of {command}"
