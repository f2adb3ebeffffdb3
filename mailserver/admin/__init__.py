"""Admin pages for mailserver's models, one module per area."""
