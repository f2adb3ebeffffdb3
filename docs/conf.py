"""Sphinx configuration for mailserver's documentation."""

project = "mailserver"
author = "The mailserver developers"
copyright = "2026, the mailserver developers"
extensions = ["sphinx.ext.intersphinx"]
intersphinx_mapping = {}
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
