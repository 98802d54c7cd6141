"""Domain rules. Plain functions; the acting user is a parameter; callers commit."""
