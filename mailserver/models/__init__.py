"""mailserver's models, one module per area."""
