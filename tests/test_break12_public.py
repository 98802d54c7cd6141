"""Hostile query strings on the public pages of issue 12 (directory, participant, QR, poster, open statistics,
the open JSON API): NUL bytes, 20 000 characters, surrogates, XSS payloads, out-of-range numbers and odd date
formats, each parameter repeated — never a 500, never a payload echoed unescaped."""
import pytest

pytest_plugins = ["tests.participants_support"]

HOSTILE = ["\x00", "%00", "a" * 20000, "<script>alert(1)</script>", "2147483648", "-1", "9" * 40,
           "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "🙂" * 500, "../../etc/passwd",
           "'\"><svg onload=1>", "2026-02-30", "2026-1-1", "+02026-01-01", "0000-00-00", "9999-12-31", "0001-01-01",
           "2026-W01-1", "２０２６-０１-０１"]
PATHS = ["/participants", "/participants/t-school-3", "/participants/t-school-3/poster", "/stats", "/stats.csv",
         "/stats.xlsx", "/api/v1/participants", "/api/v1/participants/t-school-3"]
PARAMS = ["q", "direction", "network", "embed", "from", "to", "period", "year", "month", "page", "p", "dl"]


def test_hostile_parameters_never_break_a_public_page(client, network):
    bad = []
    acc = network["vk"].id
    paths = PATHS + [f"/api/v1/accounts/{acc}/snapshots", "/api/v1/accounts/2147483648/snapshots",
                     "/api/v1/accounts/99999999999999999999/snapshots", "/participants/avatar/2147483648",
                     "/participants/t-school-3/qr/x.svg", "/participants/%00/qr/a.png",
                     "/participants/" + "a" * 5000, "/participants/%00", "/participants/t-school-3/logo",
                     "/participants/%F0%9F%99%82/poster"]
    for path in paths:
        for name in PARAMS:
            for v in HOSTILE:
                r = client.get(path, query_string=[(name, v), (name, "x")])
                if r.status_code >= 500:
                    bad.append((path, name, v[:30], r.status_code))
                body = r.get_data()
                if b"<script>alert(1)" in body or b"<svg onload" in body:
                    bad.append((path, name, "XSS", r.status_code))
    assert not bad, bad


@pytest.mark.parametrize("query", ["to=0001-01-01", "to=0001-01-05", "from=0001-01-01&to=0001-01-02",
                                   "to=9999-12-31", "from=9999-12-31"])
def test_snapshots_at_the_ends_of_the_calendar_are_an_answer(client, network, query):
    resp = client.get(f"/api/v1/accounts/{network['vk'].id}/snapshots?{query}")
    assert resp.status_code in (200, 400) and resp.is_json
