"""`doctor` covers Kite: without today's login it says how to log in; after it, the broker
check passes."""

import json


def broker_check(cli) -> dict:
    data = json.loads(cli("doctor", "--json").out)
    return next(c for c in data["checks"] if c["check"] == "broker")


def test_doctor_without_a_token_names_the_daily_login(cli, kite, fresh_db):
    check = broker_check(cli)
    assert "connect/login?v=3" in json.dumps(check) and "broker login" in json.dumps(check)
    assert kite.requests == []


def test_doctor_after_the_login_reads_the_broker(cli, kite_login):
    check = broker_check(cli)
    assert "kite: order book, holdings and positions read" in json.dumps(check)
