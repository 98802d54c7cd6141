"""Public web form and status page (filled in below)."""
