"""`ordertrack bot --all-accounts` (issue 29 §4): one bot for the accounts sharing a token, the
real CLI against the loopback Bot API (tests/fake_telegram.py) and three accounts on the file
broker: a and b list chat 1001, c lists chat 2002, all on one token."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ordertrack.core import bot_commands as core
from ordertrack.jobs import schedule
from tests.fake_host import fake_host
from tests.fake_telegram import TOKEN, FakeTelegram, assert_no_token
from tests.helpers import BrokerFiles

ROOT = Path(__file__).resolve().parent.parent
SHARED, OWN, STRANGER = "1001", "2002", "3003"


def db_of(home: Path, name: str) -> Path:
    return home / ".local" / "share" / "ordertrack" / "accounts" / name / f"{name}.db"


def make(cli, home: Path, telegram: FakeTelegram, name: str, chat: str, bot: bool = True) -> None:
    """Account `name` on the file broker (an empty day), on the fake's token, listing `chat`."""
    assert cli("accounts", "add", name, "--broker", "file").code == 0
    files = BrokerFiles(home.parent / f"broker-{name}")
    files.orders()
    folder = home / ".config" / "ordertrack" / "accounts"
    (folder / f"{name}.env").write_text(
        f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={files.folder}\n"
        f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_CHAT_ID={chat}\nTELEGRAM_API_URL={telegram.url}\n"
    )
    if bot:
        (folder / f"{name}.toml").write_text("[bot]\nenabled = true\n")


def register(cli, name: str, order_id: str, symbol: str) -> None:
    added = cli("--account", name, "pending", "add", order_id, "--symbol", symbol,
                "--side", "buy", "--qty", "1")  # fmt: skip
    assert added.code == 0, added.err


@pytest.fixture
def three(cli, home, telegram) -> FakeTelegram:
    make(cli, home, telegram, "a", SHARED)
    make(cli, home, telegram, "b", SHARED)
    make(cli, home, telegram, "c", OWN)
    register(cli, "a", "2611300001", "ALPHA")
    register(cli, "b", "2611300002", "BRAVO")
    register(cli, "c", "2611300003", "CHARLIE")
    return telegram


def poll(cli, *args: str):
    return cli("bot", "--all-accounts", "--wait", "0", *args)


def only(telegram: FakeTelegram, chat: str) -> str:
    (text,) = telegram.texts(chat)
    return text


# ---- the commands name an account, pure -----------------------------------------------------


def test_an_account_name_comes_first_and_a_commands_own_argument_wins() -> None:
    assert core.parse("/status b", None, accounts=True) == core.Ask("status", account="b")
    assert core.parse("/order b 2611", None, accounts=True) == core.Ask("order", "2611", "b")
    assert core.parse("/order 2611", None, accounts=True) == core.Ask("order", "2611")
    assert core.parse("/pnl week", None, accounts=True) == core.Ask("pnl", "week")
    assert core.parse("/pnl b", None, accounts=True) == core.Ask("pnl", "today", "b")
    assert core.parse("/pnl b month", None, accounts=True) == core.Ask("pnl", "month", "b")
    assert core.parse("/mute 30", None, accounts=True) == core.Ask("mute", "30")
    assert core.parse("/mute b 30", None, accounts=True) == core.Ask("mute", "30", "b")
    assert isinstance(core.parse("/status b c", None, accounts=True), core.Refusal)
    assert isinstance(core.parse("/status b"), core.Refusal)  # one account: no names


# ---- who sees what ---------------------------------------------------------------------------


def test_status_answers_each_visible_account_and_never_another(cli, home, three) -> None:
    three.say(SHARED, "/status")
    done = poll(cli)
    assert done.code == 0, done.err
    text = only(three, SHARED)
    assert "▸ a\nordertrack status" in text and "▸ b\nordertrack status" in text
    assert "▸ c" not in text
    assert three.texts(OWN) == []
    assert_no_token(done.out, done.err, text)


def test_pending_shows_the_chats_accounts_orders_and_no_others(cli, home, three) -> None:
    three.say(SHARED, "/pending")
    three.say(OWN, "/pending")
    assert poll(cli).code == 0
    shared, own = only(three, SHARED), only(three, OWN)
    assert "ALPHA" in shared and "BRAVO" in shared and "CHARLIE" not in shared
    assert "CHARLIE" in own and "ALPHA" not in own and "BRAVO" not in own
    assert own.startswith("▸ c\n")


def test_another_chats_account_and_an_unknown_one_get_the_same_answer(cli, home, three) -> None:
    for text in ("/status c", "/status zz", "/pending c"):
        three.say(SHARED, text)
    three.say(SHARED, "/status b")
    assert poll(cli).code == 0
    c, zz, pending_c, b = three.texts(SHARED)
    assert c == "No account c here. /help lists yours." == pending_c
    assert zz == "No account zz here. /help lists yours."
    assert b.startswith("▸ b\nordertrack status") and "▸ a" not in b


def test_help_names_only_the_chats_accounts(cli, home, three) -> None:
    three.say(SHARED, "/help")
    three.say(OWN, "/help")
    assert poll(cli).code == 0
    assert "Accounts here: a, b." in only(three, SHARED)
    assert "Accounts here: c." in only(three, OWN)


def test_a_chat_no_account_lists_is_a_stranger(cli, home, three) -> None:
    three.say(STRANGER, "/status")
    three.say(STRANGER, "/status a")
    done = poll(cli)
    assert done.code == 0
    assert three.texts(STRANGER) == []
    assert done.err.count(f"chat {STRANGER}") == 1


def test_order_without_a_name_searches_the_chats_accounts_only(cli, home, three) -> None:
    three.say(SHARED, "/order 2611300002")
    three.say(SHARED, "/order 2611300003")  # c's: not this chat's
    three.say(SHARED, "/order a 2611300002")  # b's order asked of a
    assert poll(cli).code == 0
    found, elsewhere, wrong = three.texts(SHARED)
    assert found.startswith("▸ b\nOrder 2611300002: BUY BRAVO")
    assert "CHARLIE" not in elsewhere and "not registered" in elsewhere
    assert "▸ a" in wrong and "not registered" in wrong


def test_mute_applies_to_the_named_account_or_each_the_chat_sees(cli, home, three) -> None:
    three.say(SHARED, "/mute b 30")
    three.say(OWN, "/mute 45")
    assert poll(cli).code == 0
    muted = {n: _value(home, n, "mute_until") for n in "abc"}
    assert muted["a"] is None and muted["b"] is not None and muted["c"] is not None
    assert "▸ b\nMuted for 30 minutes" in only(three, SHARED)


def test_report_is_one_document_per_account_captioned_with_its_name(cli, home, three) -> None:
    three.say(SHARED, "/report")
    assert poll(cli).code == 0
    captions = sorted(d["caption"] for d in three.documents if d["chat_id"] == SHARED)
    assert [c.split(":")[0].split()[-1] for c in captions] == ["a", "b"], captions


def _value(home: Path, name: str, key: str) -> str | None:
    with sqlite3.connect(db_of(home, name)) as conn:
        row = conn.execute("SELECT value FROM bot_state WHERE name = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _claims(home: Path, name: str) -> int:
    path = db_of(home, name)
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM bot_updates").fetchone()[0])


# ---- one reader per token, its state in one home --------------------------------------------


def _process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrack", "bot", "--all-accounts", *args],
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env=dict(os.environ),
    )  # fmt: skip


def test_each_update_is_answered_once_across_overlapping_runs(cli, home, three) -> None:
    for n in range(4):
        three.say(SHARED, "/status" if n % 2 else "/help")
    three.say(OWN, "/status")
    processes = [_process("--wait", "1") for _ in range(3)]
    for p in processes:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
    assert poll(cli).code == 0
    assert len(three.texts(SHARED)) == 4 and len(three.texts(OWN)) == 1
    assert _claims(home, "a") == 5 and _claims(home, "b") == _claims(home, "c") == 0


@pytest.mark.parametrize("killed", [False, True], ids=["released", "killed"])
def test_a_run_overlapping_one_that_is_sending_answers_nothing_twice(
    cli, home, three, killed
) -> None:
    """The first run stalls on sending (its answers are claimed and queued); a second one
    finds the home's lock held and ends at once, saying nothing; a SIGKILLed first leaves its
    answers to the next run, each sent once."""
    three.say(SHARED, "/help")
    three.say(OWN, "/status")
    stall = three.stall("sendmessage", "before")
    first = _process("--wait", "0")
    stall.wait()
    second = _process("--wait", "0")
    out, err = second.communicate(timeout=60)
    assert (second.returncode, out, err) == (0, "", "")
    if killed:
        first.kill()
    stall.release(drop=killed)
    del three.stalls[("sendmessage", "before")]
    first.communicate(timeout=60)
    assert poll(cli).code == 0
    assert poll(cli).code == 0
    assert len(three.texts(SHARED)) == 1 and len(three.texts(OWN)) == 1, three.texts()


def test_an_added_account_does_not_move_the_polls_home(cli, home, three) -> None:
    three.say(SHARED, "/help")
    assert poll(cli).code == 0
    make(cli, home, three, "0first", SHARED)  # first by name, but no poll state yet
    three.say(SHARED, "/status")
    assert poll(cli).code == 0
    assert _claims(home, "a") == 2 and _claims(home, "0first") == 0
    assert "▸ 0first" in three.texts(SHARED)[1]


def test_an_account_without_the_bot_enabled_is_not_answered_for(cli, home, three) -> None:
    make(cli, home, three, "d", SHARED, bot=False)
    three.say(SHARED, "/status d")
    assert poll(cli).code == 0
    assert only(three, SHARED) == "No account d here. /help lists yours."


def test_json_names_each_group_by_its_accounts_never_its_token(cli, home, three) -> None:
    three.say(SHARED, "/help")
    done = poll(cli, "--json")
    assert done.code == 0, done.err
    (group,) = json.loads(done.out)["groups"]
    assert group["home"] == "a" and group["accounts"] == ["a", "b", "c"]
    assert group["answered"] == 1
    assert_no_token(done.out)


# ---- the schedule: one line for every account's bot ------------------------------------------


@pytest.fixture
def crontab(fake_crontab, monkeypatch, home, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "sshd", "cron"))
    return fake_crontab


def test_install_all_accounts_adds_one_bot_line_and_remove_takes_it_out(
    cli, home, three, crontab
) -> None:
    done = cli("schedule", "install", "--all-accounts")
    assert done.code == 0, done.err
    lines = [x for x in crontab.read_text().splitlines() if " bot " in x and x[0] != "#"]
    assert len(lines) == 1 and lines[0].startswith("* * * * *  ")
    assert lines[0].split(">>")[0].rstrip().endswith("bot --all-accounts")
    assert cli("schedule", "install", "--all-accounts").code == 0  # again: still one
    assert sum(" bot --all-accounts" in x for x in crontab.read_text().splitlines()) == 1
    assert TOKEN.split(":")[1] not in crontab.read_text()
    assert cli("schedule", "remove", "--all-accounts").code == 0
    assert "bot --all-accounts" not in crontab.read_text()


def test_no_bot_line_when_no_account_enables_it(cli, home, telegram, crontab) -> None:
    make(cli, home, telegram, "a", SHARED, bot=False)
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert " bot " not in crontab.read_text() and "ordertrack-bot" not in crontab.read_text()


def test_doctor_all_accounts_expects_the_bot_line(cli, home, three, crontab) -> None:
    assert cli("schedule", "install", "--all-accounts").code == 0
    text = crontab.read_text()
    start = text.index("# >>> ordertrack-bot:all-accounts")
    end = text.index("<<<\n", start) + len("<<<\n")
    crontab.write_text(text[:start] + text[end:])
    done = cli("doctor", "--all-accounts", "--offline", "--json")
    report = json.loads(done.out)
    problems = [
        c["detail"] for a in report["accounts"] for c in a["checks"] if c["check"] == "schedule"
    ]
    assert all("no 'bot --all-accounts' line" in p for p in problems), problems


def test_an_account_whose_database_is_broken_is_left_out_alone(cli, home, three) -> None:
    db_of(home, "c").write_bytes(b"not a database, " * 512)
    for name in ("c.db-wal", "c.db-shm"):
        db_of(home, "c").with_name(name).unlink(missing_ok=True)
    three.say(SHARED, "/status")
    three.say(OWN, "/status")
    done = poll(cli)
    assert done.code == 0, done.err
    assert "▸ a" in only(three, SHARED) and "▸ b" in only(three, SHARED)
    assert "account c:" in done.err and "not answered" in done.err
    assert three.texts(OWN) == []  # c's chat is a stranger while c is out


def test_systemd_one_bot_timer_kept_by_the_default_and_an_accounts_remove(
    cli, home, three, crontab
) -> None:
    done = cli("schedule", "install", "--all-accounts", "--systemd")
    assert done.code == 0, done.err
    assert "ordertrack-all.accounts-bot.timer" in " ".join(done.out.split())
    units = home / ".config" / "systemd" / "user"
    bots = sorted(p.name for p in units.iterdir() if "bot" in p.name)
    assert bots == ["ordertrack-all.accounts-bot.service", "ordertrack-all.accounts-bot.timer"]
    service = (units / "ordertrack-all.accounts-bot.service").read_text()
    assert " bot --all-accounts\n" in service and "EnvironmentFile" not in service
    assert "OnCalendar=*-*-* *:*:00" in (units / "ordertrack-all.accounts-bot.timer").read_text()
    assert cli("schedule", "remove", "--systemd").code == 0  # the default set-up's units only
    assert cli("schedule", "remove", "--account", "a", "--systemd").code == 0
    assert (units / "ordertrack-all.accounts-bot.timer").is_file()
    assert cli("schedule", "remove", "--all-accounts", "--systemd").code == 0
    assert not any("bot" in p.name for p in units.iterdir())


def test_each_accounts_environment_is_the_one_its_own_runs_see(cli, home, three) -> None:
    """The bot reads every env file once for all accounts; what each account's answers are
    built in is still exactly jobs/accounts.environment (no other account's variable)."""
    from ordertrack.jobs import account_bot, accounts

    folder = home / ".config" / "ordertrack" / "accounts"
    with (folder / "c.env").open("a") as f:
        f.write("C_ONLY_SECRET=hush\n")
    everyone = accounts.every(os.environ)
    keys = {w.name: set(schedule.read_env_file(w.env_file)) for w in everyone}
    for where in everyone:
        env = account_bot._environment(where, keys)  # noqa: SLF001
        assert env == accounts.environment(os.environ, where), where.name
        assert ("C_ONLY_SECRET" in env) == (where.name == "c")


def test_409_is_one_alert_to_every_accounts_chats_and_exit_3(cli, home, three) -> None:
    """The home (a) and b share chat 1001: one alert there; c's own chat 2002 hears it too,
    from c's outbox, signed with c's name. The episode's later runs say nothing more."""
    three.bot_api.other_poller = True
    first, second = poll(cli), poll(cli)
    assert first.code == second.code == 3
    assert first.err.count("409 Conflict") == 1
    shared = [t for t in three.texts(SHARED) if "409 Conflict" in t]
    own = [t for t in three.texts(OWN) if "409 Conflict" in t]
    assert len(shared) == 1 and len(own) == 1
    assert "Account c" in own[0] and "another program is reading this bot" in own[0]
    assert three.texts(STRANGER) == []
    three.bot_api.other_poller = False
    assert poll(cli).code == 0


def test_a_409_alert_an_account_cannot_queue_is_said_and_ends_nothing(
    cli, home, three, monkeypatch
) -> None:
    """c's database refusing the alert (full, locked) is one warning; the run still exits 3
    for the 409, and the home's chat has its alert."""
    from ordertrack.store import outbox

    real = outbox.enqueue

    def enqueue(db, key, *args, **kwargs):
        where = db.conn.execute("PRAGMA database_list").fetchone()[2]
        if key.startswith("bot-conflict") and "/accounts/c/" in where:
            raise sqlite3.OperationalError("database or disk is full")
        return real(db, key, *args, **kwargs)

    monkeypatch.setattr(outbox, "enqueue", enqueue)
    three.bot_api.other_poller = True
    first = poll(cli)
    assert first.code == 3, first.err
    assert "account c: the 409 alert waits in its outbox: database or disk is full" in first.err
    assert len([t for t in three.texts(SHARED) if "409 Conflict" in t]) == 1


def test_install_takes_the_bot_line_out_once_no_account_enables_it(
    cli, home, three, crontab
) -> None:
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert " bot --all-accounts " in crontab.read_text()
    for name in "abc":
        (home / ".config" / "ordertrack" / "accounts" / f"{name}.toml").write_text("")
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert "bot --all-accounts" not in crontab.read_text()
    assert "# >>> ordertrack:c >>>" in crontab.read_text()


def test_a_two_word_mute_is_a_duration_not_an_account() -> None:
    assert core.parse("/mute 30 min", None, accounts=True) == core.Ask("mute", "30")
    assert core.parse("/mute 2 h", None, accounts=True) == core.Ask("mute", "120")
    assert core.parse("/mute b 2h", None, accounts=True) == core.Ask("mute", "120", "b")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_every_accounts_units_and_the_bots(
    cli, home, three, crontab
) -> None:
    """systemd itself reads what --all-accounts writes: each account's staggered timers and the
    one bot timer (a dot in its name, which no account name can have)."""
    assert cli("schedule", "install", "--all-accounts", "--systemd").code == 0
    units = home / ".config" / "systemd" / "user"
    written = sorted(str(p) for p in units.iterdir() if p.suffix in (".service", ".timer"))
    assert any("ordertrack-all.accounts-bot" in p for p in written)
    assert any("ordertrack-c-verify.timer" in p for p in written)
    done = subprocess.run(
        ["systemd-analyze", "verify", *written], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr  # not even a warning
