"""``manage.py startmailapp NAME [DIR]``: create a mail-handling app, as ``startapp`` does."""

from importlib.util import find_spec
from pathlib import Path

from django.core.management.templates import TemplateCommand


def app_template_dir() -> str:
    """Where the app template lives (setup.py installs project_template/ there)."""
    [location] = find_spec("mailserver.project_template").submodule_search_locations
    return str(Path(location) / "app_template")


class Command(TemplateCommand):
    help = (
        "Create a Django app with a mailconf, a mail view that replies and tests that "
        "pass as generated."
    )
    missing_args_message = "You must provide an application name."

    def handle(self, **options):
        app_name = options.pop("name")
        target = options.pop("directory")
        options["template"] = options.get("template") or app_template_dir()
        super().handle("app", app_name, target, **options)
