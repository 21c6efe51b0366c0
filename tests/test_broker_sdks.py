"""The official SDKs (smartapi-python, fyers-apiv3; test-only dependencies) driven against the
loopback fakes: the fakes accept what the real clients send and give replies the real clients
accept, and ordertrack sends the same requests and reads the same replies."""

import json
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from ordertrack.broker.angel import format as angel_format
from ordertrack.broker.fyers import client as fyers_client
from ordertrack.broker.fyers import format as fyers_format
from ordertrack.core.book import Outcome
from tests import fake_angel, fake_fyers

# smartapi-python sets deprecated ssl options when a client is made: its noise, not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# What a request says, apart from values that differ per client (addresses, agent, length).
SAME_HEADERS = ("x-privatekey", "x-usertype", "x-sourceid", "accept", "content-type")


def _offline(*args, **kwargs):
    raise OSError("tests stay on loopback")


@pytest.fixture
def smartapi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The SDK's module, imported without its public-IP lookup, writing its logs in tmp."""
    import requests

    monkeypatch.chdir(tmp_path)  # it writes logs/<date>/app.log into the working directory
    with monkeypatch.context() as during_import:
        if "SmartApi.smartConnect" not in sys.modules:
            during_import.setattr(requests, "get", _offline)  # it asks api.ipify.org at import
        from SmartApi import smartConnect
    return smartConnect


def test_smartapi_sdk_logs_in_and_reads_every_book_from_the_fake(angel, smartapi):
    sdk = smartapi.SmartConnect(api_key=fake_angel.SECRETS["ANGEL_API_KEY"], root=angel.url)
    sdk._rootUrl = angel.url  # individual_order_details reads the class root, not `root`
    totp = pyotp.TOTP(fake_angel.SECRETS["ANGEL_TOTP_SECRET"]).now()
    user = sdk.generateSession(
        fake_angel.SECRETS["ANGEL_CLIENT_CODE"], fake_angel.SECRETS["ANGEL_PIN"], totp
    )
    assert user["status"] is True and user["data"]["clientcode"] == "D88311"
    book = sdk.orderBook()
    assert book["status"] is True
    assert angel_format.order_book(book).outcome is Outcome.OK
    assert len(angel_format.order_book(book).items) == 6
    assert angel_format.trades(sdk.tradeBook()).outcome is Outcome.OK
    assert len(angel_format.holdings(sdk.holding()).items) == 2
    assert angel_format.positions(sdk.position()).items[0].net_qty == 1
    unique = book["data"][1]["uniqueorderid"]
    details = sdk.individual_order_details(unique)
    assert angel_format.order_history(details, "201020000000081").outcome is Outcome.OK
    renewed = sdk.generateToken(sdk.refresh_token)
    assert renewed["status"] is True and angel.refreshes == 1


def test_ordertrack_sends_angel_what_the_sdk_sends(cli, angel, smartapi):
    sdk = smartapi.SmartConnect(api_key=fake_angel.SECRETS["ANGEL_API_KEY"], root=angel.url)
    sdk.generateSession(
        fake_angel.SECRETS["ANGEL_CLIENT_CODE"],
        fake_angel.SECRETS["ANGEL_PIN"],
        pyotp.TOTP(fake_angel.SECRETS["ANGEL_TOTP_SECRET"]).now(),
    )
    sdk.orderBook()
    theirs = list(angel.requests)
    angel.requests.clear()
    assert cli("broker", "check").code == 0
    ours = list(angel.requests)

    def first(seen, path):
        return next(s for s in seen if s.path == path)

    for path in (fake_angel.LOGIN, fake_angel.ORDERS):
        sdk_seen, our_seen = first(theirs, path), first(ours, path)
        assert sdk_seen.method == our_seen.method
        assert {h: sdk_seen.headers.get(h) for h in SAME_HEADERS} == {
            h: our_seen.headers.get(h) for h in SAME_HEADERS
        }
        assert ("authorization" in sdk_seen.headers) == ("authorization" in our_seen.headers)
    login_sdk = json.loads(first(theirs, fake_angel.LOGIN).body)
    login_ours = json.loads(first(ours, fake_angel.LOGIN).body)
    assert set(login_sdk) == set(login_ours)
    assert {k: v for k, v in login_sdk.items() if k != "totp"} == {
        k: v for k, v in login_ours.items() if k != "totp"
    }


@pytest.fixture
def fyers_sdk(monkeypatch: pytest.MonkeyPatch, fyers):
    from fyers_apiv3 import fyersModel

    monkeypatch.setattr(fyersModel.Config, "API", fyers.base)
    return fyersModel


def test_fyers_sdk_logs_in_and_reads_every_book_from_the_fake(fyers, fyers_sdk, tmp_path):
    secrets = fake_fyers.SECRETS
    session = fyers_sdk.SessionModel(
        client_id=secrets["FYERS_APP_ID"],
        redirect_uri=secrets["FYERS_REDIRECT_URL"],
        response_type="code",
        state="ordertrack",
        secret_key=secrets["FYERS_SECRET_KEY"],
        grant_type="authorization_code",
    )
    theirs = urlsplit(session.generate_authcode())
    ours = urlsplit(
        fyers_client.login_url(fyers.base, secrets["FYERS_APP_ID"], secrets["FYERS_REDIRECT_URL"])
    )
    assert (theirs.path, parse_qs(theirs.query)) == (ours.path, parse_qs(ours.query))
    session.set_token(fyers.auth_code())
    token = session.generate_token()
    assert token["s"] == "ok" and fyers.exchanges == 1
    model = fyers_sdk.FyersModel(
        client_id=secrets["FYERS_APP_ID"], token=token["access_token"], log_path=str(tmp_path)
    )
    assert len(fyers_format.order_book(model.orderbook()).items) == 6
    assert fyers_format.trades(model.tradebook()).outcome is Outcome.OK
    assert len(fyers_format.holdings(model.holdings()).items) == 2
    assert fyers_format.positions(model.positions()).items[0].net_qty == 1


def test_ordertrack_sends_fyers_what_the_sdk_sends(cli, fyers, fyers_sdk, tmp_path):
    secrets = fake_fyers.SECRETS
    session = fyers_sdk.SessionModel(
        client_id=secrets["FYERS_APP_ID"],
        redirect_uri=secrets["FYERS_REDIRECT_URL"],
        response_type="code",
        state="s",
        secret_key=secrets["FYERS_SECRET_KEY"],
        grant_type="authorization_code",
    )
    session.set_token(fyers.auth_code())
    model = fyers_sdk.FyersModel(
        client_id=secrets["FYERS_APP_ID"],
        token=session.generate_token()["access_token"],
        log_path=str(tmp_path),
    )
    model.orderbook()
    theirs = list(fyers.requests)
    fyers.requests.clear()
    assert cli("broker", "login", fyers.auth_code()).code == 0
    assert cli("broker", "check").code == 0
    ours = list(fyers.requests)
    for path in (fake_fyers.VALIDATE, fake_fyers.ORDERS):
        sdk_seen = next(s for s in theirs if s.path == path)
        our_seen = next(s for s in ours if s.path == path)
        assert sdk_seen.method == our_seen.method
        if path == fake_fyers.VALIDATE:
            sdk_body, our_body = json.loads(sdk_seen.body), json.loads(our_seen.body)
            assert set(sdk_body) == set(our_body)
            assert sdk_body["appIdHash"] == our_body["appIdHash"]
        else:
            for header in ("version", "content-type"):
                assert sdk_seen.headers.get(header) == our_seen.headers.get(header)
            assert (
                sdk_seen.headers["authorization"].split(":")[0]
                == our_seen.headers["authorization"].split(":")[0]
            )
