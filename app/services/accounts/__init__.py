"""Participants' network accounts (issue 12): finding an account on its platform, checking its token, and
collecting its figures.

- `platforms` — one interface over the four networks (one module each): `parse_address`, `resolve`,
  `check_token`, `collect`/`collect_many`, all raising `PlatformError` with a Russian message and a `kind`.
- `collection` — the daily snapshot per account (city-time day, upsert), the account's latest figures, recent
  posts, failures kept on the account, the notice to the participant's SMM and the press service.
- `posts` — `upsert_post`: the one way a Post row is written (collector backfill and webhooks alike).
- `history` — `flask accounts import-history`: past figures from a CSV.
- `avatars` — the account's avatar, fetched from the platform's own hosts and checked by its magic bytes.
- `registry` — the staff's side: adding an account (resolve, confirm), its credentials (checked, encrypted).
- `credentials` — a community's own secret, confirmation code and token for its webhook and replies.
"""
