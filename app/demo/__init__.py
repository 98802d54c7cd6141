"""Demo data for `flask seed-demo`: the city of Белогорск, its institutions, accounts, staff and tickets.

`data` holds the Russian material (names, streets, texts); `seed.run()` writes it, idempotently.
"""
