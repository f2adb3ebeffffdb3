"""Templates that ``startmailapp`` (and ``startproject --template``) copy."""
