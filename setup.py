"""Shim for tools that still call setup.py; metadata lives in pyproject.toml.

The one thing pyproject.toml cannot say: project_template/ sits at the top of
the repository but installs as ``mailserver.project_template``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["mailserver*"]), "mailserver.project_template"],
    package_dir={"mailserver.project_template": "project_template"},
)
