"""Cross-posting (issue 13): one composed post published to Telegram, VK, OK and MAX accounts.

`limits` turns a composed post into a per-network plan — what will actually be sent, in order, and the warnings the
author must see before publishing (never a silent cut). It is pure: no database, no network.
"""
