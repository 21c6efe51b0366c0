"""Several accounts on one server (issue 29): names and folders, `--account` reading the
account's own files and nothing of the shell's, exit codes, `accounts list|add|remove`, the
per-account crontab blocks and systemd units, the combined views, the static-IP alert, the
Python API. The real-cron end to end run is tests/test_accounts_cron.py."""

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from ordertrack.broker import static_ip
from ordertrack.jobs import schedule
from tests.fake_host import fake_host
from tests.helpers import CHROMIUM, EXECUTABLE, BrokerFiles, browser_errors, chromium, kotak_row


def env_file(home: Path, name: str) -> Path:
    return home / ".config" / "ordertrack" / "accounts" / f"{name}.env"


def db_of(home: Path, name: str) -> Path:
    return home / ".local" / "share" / "ordertrack" / "accounts" / name / f"{name}.db"


def make(cli, home: Path, name: str, *extra: str) -> BrokerFiles:
    """Account `name` on the file broker, its replies in its own folder (an empty day)."""
    assert cli("accounts", "add", name, "--broker", "file").code == 0
    files = BrokerFiles(home.parent / f"broker-{name}")
    files.orders()
    files.write("holdings.json", {"data": []})
    files.write("positions.json", {"stat": "Not_Ok", "errMsg": "No Data", "stCode": 5203})
    path = env_file(home, name)
    text = path.read_text().replace(
        "ORDERTRACK_BROKER_DIR=", f"ORDERTRACK_BROKER_DIR={files.folder}"
    )
    path.write_text(text + "".join(f"{line}\n" for line in extra))
    return files


# ---- names, folders, exit codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["default", "Family", "a b", "x" * 33, "../etc", "", "é", "-x", "_x"], ids=repr
)
def test_a_bad_or_reserved_name_is_a_usage_error(cli, home, name):
    done = cli("accounts", "add", "--", name)
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    assert not (home / ".config" / "ordertrack" / "accounts").exists() or not any(
        (home / ".config" / "ordertrack" / "accounts").iterdir()
    )


def test_add_writes_an_owner_only_env_file_with_the_brokers_names(cli, home):
    done = cli("accounts", "add", "family", "--broker", "kite")
    assert done.code == 0, done.err
    path = env_file(home, "family")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "ORDERTRACK_BROKER=kite\nKITE_API_KEY=\nKITE_API_SECRET=\n" in text
    assert "# Kite Connect's values and the daily 'ordertrack broker login': docs/kite.md" in text
    cli("accounts", "add", "play", "--broker", "file")
    assert "'ordertrack demo --keep DIR' leaves a working one" in env_file(home, "play").read_text()
    said = " ".join(done.out.split())
    assert "Fill in: KITE_API_KEY, KITE_API_SECRET, TELEGRAM_BOT_TOKEN" in said
    assert str(db_of(home, "family")) in said
    assert cli("accounts", "add", "family").code == 2  # never overwritten
    assert cli("accounts", "add", "other", "--broker", "nope").code == 2


def test_an_unknown_account_is_exit_3_naming_the_file_looked_for(cli, home):
    done = cli("--account", "ghost", "status")
    assert done.code == 3
    assert f"unknown account ghost: no env file {env_file(home, 'ghost')}" in done.err


@pytest.mark.parametrize("broker", ["kotak", "kite", "angel", "fyers"])
def test_missing_broker_settings_name_the_accounts_env_file(cli, home, broker):
    assert cli("accounts", "add", "mom", "--broker", broker).code == 0
    done = cli("--account", "mom", "verify")
    assert done.code == 3, done.err
    assert f"ORDERTRACK_BROKER={broker} needs " in done.err
    assert done.err.rstrip().endswith("in account mom's env file"), done.err


def test_db_config_or_ordertrack_db_with_an_account_is_exit_2(cli, home, monkeypatch, tmp_path):
    make(cli, home, "a")
    for argv in (
        ("--account", "a", "--db", str(tmp_path / "x.db"), "status"),
        ("--config", str(tmp_path / "x.toml"), "--account", "a", "status"),
    ):
        done = cli(*argv)
        assert done.code == 2 and "cannot be combined with --account" in done.err, done.err
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path / "x.db"))
    done = cli("--account", "a", "verify")
    assert done.code == 2 and "ORDERTRACK_DB cannot be combined" in done.err
    monkeypatch.delenv("ORDERTRACK_DB")
    monkeypatch.setenv("ORDERTRACK_ACCOUNT", "a")  # the variable selects it as the option does
    assert cli("verify").code == 0
    assert db_of(home, "a").is_file()


def test_an_account_env_file_may_not_name_another_database(cli, home, tmp_path):
    make(cli, home, "a", f"ORDERTRACK_DB={tmp_path / 'elsewhere.db'}")
    done = cli("--account", "a", "verify")
    assert done.code == 3 and "sets ORDERTRACK_DB" in done.err
    assert not (tmp_path / "elsewhere.db").exists()


def test_without_an_account_nothing_changes(cli, home, broker, monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERTRACK_DB", str(tmp_path / "plain.db"))
    make(cli, home, "a")
    broker.orders()
    assert cli("verify").code == 0
    assert (tmp_path / "plain.db").is_file() and not db_of(home, "a").exists()


# ---- each account reads its own files, and nothing of the shell's ---------------------------------


def test_an_account_ignores_the_shells_settings(cli, home, monkeypatch, tmp_path):
    make(cli, home, "a")
    shell_broker = BrokerFiles(tmp_path / "shell-broker")
    shell_broker.orders(kotak_row("261100000000001", "complete", filled=100, avg="10.00"))
    monkeypatch.setenv("ORDERTRACK_BROKER_DIR", str(shell_broker.folder))  # account b's, say
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SHELL-TOKEN-NOT-THIS-ACCOUNTS")
    bad = tmp_path / "shell.toml"
    bad.write_text("[nonsense]\n")  # read, it would stop every run (exit 3)
    monkeypatch.setenv("ORDERTRACK_CONFIG", str(bad))
    monkeypatch.setenv("ORDERTRACK_BROKER_FORMAT", "kite")  # read, the book would not parse
    done = cli("--account", "a", "status", "--json")
    assert done.code == 7  # no database yet: status never creates one
    assert (
        cli(
            "--account",
            "a",
            "pending",
            "add",
            "261100000000001",
            "--symbol",
            "INFY",
            "--side",
            "buy",
            "--qty",
            "100",
        ).code
        == 0
    )
    verified = cli("--account", "a", "verify", "--json")
    assert verified.code == 0, verified.err
    assert json.loads(verified.out)["executed"] == 0  # its own broker folder: an empty book
    data = json.loads(cli("--account", "a", "status", "--json").out)
    assert data["database"] == str(db_of(home, "a"))
    assert data["notifications"].startswith("off")  # the shell's bot token was not read
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "123456:SHELL-TOKEN-NOT-THIS-ACCOUNTS"  # restored


def test_no_variable_of_one_accounts_env_file_reaches_another_accounts_hook(home, tmp_path):
    """A shell that sourced account a's env file runs account b: b's hook sees b's variables
    and none of a's, secret or not. Real processes: the CLI and a shell-script hook."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "ORDERTRACK_CRONTAB": str(tmp_path / "no-crontab"),
    }

    def ot(*argv: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EXECUTABLE), *argv],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    for name in ("a", "b"):
        assert ot("accounts", "add", name, "--broker", "file").returncode == 0
    a_file, b_file = env_file(home, "a"), env_file(home, "b")
    a_file.write_text(
        a_file.read_text()
        + "A_ONLY_NOTE=plain-value-of-a\nA_WEBHOOK_SECRET=secret-of-account-a-0123456789\n"
        + "TELEGRAM_BOT_TOKEN=111111:TOKEN-OF-ACCOUNT-A\n"
    )
    b_file.write_text(b_file.read_text() + "B_ONLY_NOTE=plain-value-of-b\n")
    dump = tmp_path / "hook-env.txt"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"env > {dump}\ncat > /dev/null\n")
    toml = b_file.with_suffix(".toml")
    toml.write_text(f'[[hook]]\ncommand = ["/bin/sh", "{hook}"]\n')
    sourced = schedule.read_env_file(a_file)  # what `set -a; . a.env` put in the shell
    sourced["KITE_API_KEY"] = "shell-kite-key-1234"  # a run setting b's file does not set
    assert ot("--account", "b", "outbox", "flush", extra=sourced).returncode == 0
    added = ot(
        "--account",
        "b",
        "pending",
        "add",
        "7",
        "--symbol",
        "INFY",
        "--side",
        "buy",
        "--qty",
        "1",
        extra=sourced,
    )
    assert added.returncode == 0, added.stderr
    flushed = ot("--account", "b", "outbox", "flush", extra=sourced)
    assert flushed.returncode == 0, flushed.stderr
    seen = dump.read_text()
    assert "B_ONLY_NOTE=plain-value-of-b" in seen and "ORDERTRACK_ACCOUNT=b" in seen
    for leaked in (
        "A_ONLY_NOTE",
        "A_WEBHOOK_SECRET",
        "TOKEN-OF-ACCOUNT-A",
        "secret-of-account-a",
        "shell-kite-key",
    ):
        assert leaked not in seen
        assert leaked not in flushed.stdout + flushed.stderr
    assert not db_of(home, "a").exists()  # nothing of b's run went to a's database


# ---- accounts list | remove -----------------------------------------------------------------------


def test_list_shows_each_account_its_broker_database_and_runs(cli, home):
    assert json.loads(cli("accounts", "list", "--json").out) == []
    make(cli, home, "b")
    make(cli, home, "a")
    assert cli("--account", "a", "verify").code == 0
    rows = json.loads(cli("accounts", "list", "--json").out)
    assert [(r["account"], r["broker"], r["db"]) for r in rows] == [
        ("a", "file", str(db_of(home, "a"))),
        ("b", "file", str(db_of(home, "b"))),
    ]
    assert [r["command"] for r in rows[0]["runs"]] == ["verify"] and rows[1]["runs"] == []
    text = cli("accounts", "list").out
    assert "last run verify ok" in text and "no runs yet" in text


def test_remove_keeps_files_unless_purge(cli, home, fake_crontab, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    make(cli, home, "a")
    assert cli("--account", "a", "verify").code == 0
    assert cli("schedule", "install", "--account", "a").code == 0
    done = cli("accounts", "remove", "a")
    kept = env_file(home, "a").with_name("a.env.removed")
    assert done.code == 0 and "Removed its crontab block" in done.out
    assert "Kept" in done.out and str(kept) in done.out.replace("\n", "")
    assert "ordertrack:a" not in fake_crontab.read_text()
    assert kept.is_file() and db_of(home, "a").is_file()
    done = cli("accounts", "remove", "a", "--purge")
    assert done.code == 0 and "Deleted" in done.out
    assert not kept.exists() and not db_of(home, "a").exists()
    assert cli("accounts", "remove", "a").code == 3


def test_a_removed_account_is_no_longer_one_of_the_accounts(cli, home, crontab):
    """Before, remove kept NAME.env, so the account stayed in `accounts list` and every
    --all-accounts view, doctor --all-accounts failed on its missing schedule for ever, and the
    next `schedule install --all-accounts` scheduled it again."""
    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("--account", "b", "verify").code == 0
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert cli("accounts", "remove", "b").code == 0
    assert [r["account"] for r in json.loads(cli("accounts", "list", "--json").out)] == ["a"]
    assert [r["account"] for r in json.loads(cli("status", "--all-accounts", "--json").out)] == [
        "a"
    ]
    doctor = json.loads(cli("doctor", "--all-accounts", "--offline", "--json").out)
    assert [a["account"] for a in doctor["accounts"]] == ["a"]
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert "ordertrack:b" not in crontab.read_text()
    done = cli("--account", "b", "status")
    assert done.code == 3 and "it was removed: its env file is kept as" in done.err
    env_file(home, "b").with_name("b.env.removed").rename(env_file(home, "b"))
    assert json.loads(cli("--account", "b", "status", "--json").out)["runs"]  # history kept


def test_an_unknown_account_names_the_close_one_before_offering_to_create_it(cli, home):
    make(cli, home, "mom")
    make(cli, home, "dad")
    done = cli("--account", "mum", "status")
    assert done.code == 3
    assert "did you mean mom? accounts: dad, mom" in done.err and "accounts add" not in done.err
    done = cli("--account", "zzz", "status")
    assert "accounts: dad, mom; create it with 'ordertrack accounts add zzz'" in done.err


# ---- the schedule ----------------------------------------------------------------------------------


@pytest.fixture
def crontab(fake_crontab, monkeypatch, home, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setattr(schedule, "HOST", fake_host(tmp_path / "host", "sshd", "cron"))
    return fake_crontab


def blocks(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# >>> ordertrack"):
            current = line.split()[2].removeprefix("ordertrack").lstrip(":") or "(default)"
            found[current] = []
        elif line.startswith("# <<< ordertrack"):
            current = None
        elif current is not None and not line.startswith("#"):
            found[current].append(line)
    return found


def test_each_account_has_its_own_staggered_block_and_installing_one_keeps_the_others(
    cli, home, crontab, tmp_path
):
    default_env = home / ".config" / "ordertrack" / "env"
    default_env.parent.mkdir(parents=True, exist_ok=True)
    default_env.write_text(f"ORDERTRACK_DB={tmp_path / 'plain.db'}\n")
    default_env.chmod(0o600)
    crontab.write_text("MAILTO=me\n")
    assert cli("schedule", "install").code == 0  # today's set-up: its own block stays
    for name in ("a", "b", "c"):
        make(cli, home, name)
    done = cli("schedule", "install", "--all-accounts")
    assert done.code == 0, done.err
    assert "a +0 s, b +5 s, c +10 s" in done.out
    found = blocks(crontab.read_text())
    assert set(found) == {"(default)", "a", "b", "c"}
    assert crontab.read_text().startswith("MAILTO=me\n")
    for name, wait in (("a", ""), ("b", "sleep 5; "), ("c", "sleep 10; ")):
        lines = found[name]
        assert len(lines) == len(found["(default)"])
        assert all(f"  {wait}" in line for line in lines)
        assert all(f"--account {name} " in line and "set -a" not in line for line in lines)
        assert all(str(db_of(home, name).parent / "ordertrack.log") in line for line in lines)
        assert {line.split("--account")[1].split()[1] for line in lines} == {
            "verify",
            "reconcile",
            "eod",
            "listen",
        }
    before = crontab.read_text()
    assert cli("--account", "b", "schedule", "install").code == 0  # again: same text
    assert crontab.read_text() == before
    assert cli("schedule", "remove", "--account", "b").code == 0
    assert set(blocks(crontab.read_text())) == {"(default)", "a", "c"}
    assert cli("schedule", "remove").code == 0  # the default block alone
    assert set(blocks(crontab.read_text())) == {"a", "c"}
    done = cli("doctor", "--all-accounts", "--offline", "--json")
    data = json.loads(done.out)
    assert [a["account"] for a in data["accounts"]] == ["a", "b", "c"]
    schedule_of = {
        a["account"]: next(c for c in a["checks"] if c["check"] == "schedule")
        for a in data["accounts"]
    }
    assert schedule_of["a"]["ok"] and "staggered +0 s" in schedule_of["a"]["detail"]
    assert schedule_of["c"]["ok"] and "staggered +10 s" in schedule_of["c"]["detail"]
    assert (
        not schedule_of["b"]["ok"]
        and "no schedule installed for account b" in (schedule_of["b"]["detail"])
    )
    assert done.code == 3  # b has a problem
    assert cli("schedule", "install", "--account", "b").code == 0
    done = cli("doctor", "--all-accounts", "--offline")
    assert done.code == 0, done.out
    assert len(re.findall(r"ok +schedule: crontab: \d+ lines, staggered", done.out)) == 3


def test_an_account_whose_broker_does_not_push_gets_no_listen(cli, home, crontab):
    make(cli, home, "a")
    assert cli("accounts", "add", "z", "--broker", "angel").code == 0
    assert cli("schedule", "install", "--all-accounts").code == 0
    found = blocks(crontab.read_text())
    commands = {
        name: {line.split("--account")[1].split()[1] for line in found[name]} for name in "az"
    }
    assert commands["a"] == {"verify", "reconcile", "eod", "listen"}
    assert commands["z"] == {"verify", "reconcile", "eod"}
    data = json.loads(cli("doctor", "--all-accounts", "--offline", "--json").out)
    schedule_of = {
        a["account"]: next(c for c in a["checks"] if c["check"] == "schedule")
        for a in data["accounts"]
    }
    assert schedule_of["z"]["ok"], schedule_of["z"]
    assert cli("schedule", "install", "--account", "z", "--systemd").code == 0
    units = home / ".config" / "systemd" / "user"
    assert (units / "ordertrack-z-verify.timer").is_file()
    assert not (units / "ordertrack-z-listen.timer").exists()


def test_doctor_all_accounts_names_a_broken_account(cli, home, crontab):
    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("schedule", "install", "--all-accounts").code == 0
    env_file(home, "b").chmod(0o644)
    done = cli("doctor", "--all-accounts", "--offline", "--json")
    assert done.code == 3
    data = json.loads(done.out)
    assert [a["ok"] for a in data["accounts"]] == [True, False]
    assert "readable by others" in json.dumps(data["accounts"][1])


def test_systemd_units_per_account_staggered_and_kept_by_the_default_remove(cli, home, crontab):
    for name in ("a", "b"):
        make(cli, home, name)
    done = cli("schedule", "install", "--all-accounts", "--systemd")
    assert done.code == 0, done.err
    units = home / ".config" / "systemd" / "user"
    timer = (units / "ordertrack-b-verify.timer").read_text()
    assert "OnCalendar=Mon..Fri *-*-* 09:15:05 Asia/Kolkata" in timer
    service = (units / "ordertrack-b-verify.service").read_text()
    assert "--account b verify" in service and "EnvironmentFile" not in service
    assert "09:15:00 Asia/Kolkata" in (units / "ordertrack-a-verify.timer").read_text()
    assert cli("schedule", "remove", "--systemd").code == 0  # the default units only
    assert (units / "ordertrack-a-eod.timer").is_file()
    assert cli("schedule", "remove", "--account", "a", "--systemd").code == 0
    assert not (units / "ordertrack-a-eod.timer").exists()
    assert (units / "ordertrack-b-eod.timer").is_file()


# ---- the combined views ----------------------------------------------------------------------------


def test_status_pnl_and_report_all_accounts(cli, home, tmp_path):
    make(cli, home, "a")
    broken = make(cli, home, "b")
    make(cli, home, "c")
    assert cli("--account", "a", "verify").code == 0
    broken.write("orders.json", {"stat": "Not_Ok", "stCode": 1005, "errMsg": "internal error"})
    assert cli("--account", "b", "verify").code == 4
    rows = json.loads(cli("status", "--all-accounts", "--json").out)
    assert [(r["account"], r["broker"], r["db"]) for r in rows] == [
        (n, "file", str(db_of(home, n))) for n in ("a", "b", "c")
    ]
    assert rows[0]["runs"][0]["outcome"] == "ok" and rows[1]["runs"][0]["outcome"] == "failed"
    assert rows[2]["runs"] == [] and "no database" in rows[2]["error"]
    text = cli("status", "--all-accounts").out
    assert text.index("== account a ==") < text.index("== account b ==")
    pnl = json.loads(cli("pnl", "--all-accounts", "--json").out)
    assert [r["account"] for r in pnl["accounts"]] == ["a", "b", "c"]
    assert set(pnl["total"]) == {"realised", "unrealised", "charges", "net"}
    out = tmp_path / "all.html"
    done = cli("report", "--all-accounts", "--out", str(out))
    assert done.code == 0, done.err
    page = out.read_text()
    assert page.index('id="combined"') < page.index('id="account-a"') < page.index('id="account-b"')
    assert 'id="account-a-at-a-glance"' in page and "no database" in page


def test_all_accounts_without_accounts_is_exit_3(cli, home):
    done = cli("status", "--all-accounts")
    assert done.code == 3 and "no accounts" in done.err


# ---- the static-IP rule ----------------------------------------------------------------------------


def test_kotaks_ip_refusal_is_one_alert_naming_the_account(cli, home, sql):
    files = make(cli, home, "family")
    files.write("orders.json", {"stat": "Not_Ok", "stCode": 100008, "errMsg": "Unauthorized"})
    assert cli("--account", "family", "verify").code == 4
    assert cli("--account", "family", "verify").code == 4
    listed = json.loads(cli("--account", "family", "outbox", "list", "--json").out)
    alerts = [r for r in listed if r["kind"] == "SYSTEM_ALERT"]
    assert len(alerts) == 1  # one per outage
    assert (
        "this server's IP is not registered for account family with Kotak Neo"
        in (alerts[0]["text"])
    )


@pytest.mark.parametrize(
    "broker,error,refused",
    [
        ("kotak", "Kotak Neo refused this machine's IP address (code 100008): register", True),
        ("kotak", "Unauthorized, code 100008", True),
        ("kotak", "Unauthorized, code 1000081", False),
        ("kotak", "login failed: invalid credentials", False),
        ("kite", "PermissionException: Request from an IP address that is not whitelisted", True),
        ("kite", "TokenException: Incorrect `api_key` or `access_token`.", False),
        ("angel", "AG8001: Invalid Token", False),
        ("angel", "Request rejected: static IP not registered for this client", True),
        ("fyers", "-16: Could not authenticate the user", False),
        ("fyers", "IP not allowed for this app", True),
        ("file", "orders.json does not exist", False),
    ],
)
def test_ip_refusal_is_recognised_conservatively(broker, error, refused):
    assert static_ip.refused(broker, error) is refused


# ---- the Python API ----------------------------------------------------------------------------


def test_the_api_takes_an_account(cli, home, tmp_path):
    from ordertrack import api
    from ordertrack.errors import ConfigError, UsageError

    make(cli, home, "a")
    assert api.register_order("INFY", "buy", 5, order_id="1", account="a") == "added"
    assert api.track_symbol("INFY", 5, account="a") == "added"
    assert [e["kind"] for e in api.events(account="a")][:1] == ["REGISTERED"]
    assert db_of(home, "a").is_file()
    with pytest.raises(UsageError):
        api.register_order("INFY", "buy", 5, db_path=tmp_path / "x.db", account="a")
    with pytest.raises(ConfigError, match="unknown account zz"):
        api.events(account="zz")


def test_one_accounts_locked_database_does_not_hold_another(cli, home):
    """Each account has its own database and run lock: a program holding a's database
    exclusively does not delay b's run."""
    import sqlite3
    import time

    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("--account", "a", "verify").code == 0
    holder = sqlite3.connect(db_of(home, "a"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        done = cli("--account", "b", "verify")
        assert done.code == 0, done.err
        assert time.monotonic() - started < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_doctor_with_one_account_checks_that_account(cli, home, crontab):
    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("schedule", "install", "--account", "a").code == 0
    done = cli("--account", "a", "doctor", "--offline", "--json")
    data = json.loads(done.out)
    assert [a["account"] for a in data["accounts"]] == ["a"] and done.code == 0, done.out
    assert cli("--account", "b", "doctor", "--offline").code == 3  # no schedule for b


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (.ci/run installs it: apt-get install -y chromium)",
)
def test_the_combined_report_renders_in_chromium(cli, home, tmp_path):
    for name in ("a", "b"):
        make(cli, home, name)
        assert cli("--account", name, "verify").code == 0
    page = tmp_path / "all.html"
    assert cli("report", "--all-accounts", "--out", str(page)).code == 0
    shown = chromium(page, tmp_path / "profile", "--window-size=360,1000", "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.index(">All accounts</h2>") < shown.stdout.index(">Account a</h2>")
    assert shown.stdout.index(">Account a</h2>") < shown.stdout.index(">Account b</h2>")
    assert browser_errors(shown.stderr) == []


def test_a_corrupt_database_is_that_accounts_row_only(cli, home):
    for name in ("a", "b"):
        make(cli, home, name)
        assert cli("--account", name, "verify").code == 0
    db_of(home, "a").write_bytes(b"this is not a database" * 100)
    for argv in (("status", "--all-accounts", "--json"), ("accounts", "list", "--json")):
        done = cli(*argv)
        assert done.code == 0, done.err
        rows = json.loads(done.out)
        assert "error" in rows[0] and rows[0]["runs"] == []
        assert rows[1]["account"] == "b" and rows[1]["runs"][0]["outcome"] == "ok"
    pnl = json.loads(cli("pnl", "--all-accounts", "--json").out)
    assert "error" in pnl["accounts"][0] and "error" not in pnl["accounts"][1]


@pytest.mark.parametrize(
    "where",
    ["order book", "login"],
)
def test_kotak_refusing_the_ip_is_one_telegram_alert_naming_the_account(
    cli, home, kotak, telegram, where
):
    """The real Kotak client against the loopback Kotak Neo: stCode 100008 on the order book,
    or at login (HTTP 403), becomes one alert in the account's own chat, naming the account."""
    from tests.fake_kotak import IP_REFUSED, LOGIN, ORDERS, Scripted

    assert cli("accounts", "add", "family").code == 0
    settings = ("ORDERTRACK_BROKER", "ORDERTRACK_KOTAK_LOGIN_URL", "TELEGRAM_API_URL")
    names = [n for n in os.environ if n.startswith(("KOTAK_", "TELEGRAM_")) or n in settings]
    env_file(home, "family").write_text("".join(f"{n}={os.environ[n]}\n" for n in names))
    if where == "login":
        kotak.script(
            LOGIN, Scripted(403, {"error": [{"code": "100008", "message": "Unauthorized"}]})
        )
    else:
        kotak.script(ORDERS, Scripted(200, IP_REFUSED))
    assert cli("--account", "family", "verify").code == 4
    if where == "login":
        kotak.script(
            LOGIN, Scripted(403, {"error": [{"code": "100008", "message": "Unauthorized"}]})
        )
    else:
        kotak.script(ORDERS, Scripted(200, IP_REFUSED))
    assert cli("--account", "family", "verify").code == 4
    alerts = [t for t in telegram.texts() if "IP" in t]
    assert len(alerts) == 1, telegram.texts()
    assert "this server's IP is not registered for account family with Kotak Neo" in alerts[0]
    assert "broker unavailable" not in alerts[0]


def test_eod_writes_its_report_and_backup_in_the_accounts_own_folder(cli, home, tmp_path):
    make(cli, home, "a")
    make(cli, home, "b")
    done = cli("--account", "a", "eod")
    assert done.code == 0, done.err
    folder = db_of(home, "a").parent
    assert list((folder / "backups").iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert not db_of(home, "b").parent.joinpath("backups").exists()
    assert not (home / ".local" / "share" / "ordertrack" / "backups").exists()


@pytest.mark.parametrize(
    "root, says",
    [
        (("--account", "a"), "--all-accounts cannot be combined with --account a"),
        (("--db", "x.db"), "--db cannot be combined with --all-accounts"),
        (("--config", "x.toml"), "--config cannot be combined with --all-accounts"),
    ],
    ids=["account", "db", "config"],
)
@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("pnl",),
        ("report", "--out", "-"),
        ("doctor", "--offline"),
        ("schedule", "install"),
        ("schedule", "remove"),
    ],
    ids=lambda c: c[0] if len(c) == 1 or c[0] != "schedule" else " ".join(c),
)
def test_all_accounts_beside_a_root_account_db_or_config_is_exit_2(
    cli, home, crontab, root, says, command
):
    """Before, `ordertrack --account a status --all-accounts` quietly showed every account and
    `--db x.db status --all-accounts` quietly ignored x.db (schedule remove removed them all)."""
    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("schedule", "install", "--all-accounts").code == 0
    done = cli(*root, *command, "--all-accounts")
    assert done.code == 2 and says in done.err
    assert "ordertrack:b" in crontab.read_text()


def test_doctor_all_accounts_ends_with_who_has_a_problem_and_no_empty_fix(cli, home, crontab):
    """Seen by a new user: a world-readable env file read 'chmod 600 …/b.env — fix: fix
    …/b.env', and three accounts' checks ended with no word on which had failed."""
    make(cli, home, "a")
    make(cli, home, "b")
    assert cli("schedule", "install", "--all-accounts").code == 0
    env_file(home, "b").chmod(0o644)
    done = cli("doctor", "--all-accounts", "--offline")
    text = " ".join(done.out.split())
    assert done.code == 3 and "1 of 2 accounts with a problem: b" in text
    assert "fix: fix" not in text and f"chmod 600 {env_file(home, 'b')}" in text
    assert done.out.startswith("== account a ==")
    env_file(home, "b").chmod(0o600)
    assert "All 2 accounts ok." in cli("doctor", "--all-accounts", "--offline").out


def test_accounts_list_keeps_name_broker_and_last_run_on_one_line(cli, home):
    """Seen by a new user at 80 columns: a database path a few characters longer pushed the
    path and its last run onto the next lines, unlike its neighbours."""
    make(cli, home, "aunt-maria")
    assert cli("--account", "aunt-maria", "verify").code == 0
    lines = cli("accounts", "list").out.splitlines()
    assert lines[0].split()[:3] == ["aunt-maria", "file", "last"]
    assert "".join(line.strip() for line in lines[1:]) == str(db_of(home, "aunt-maria"))


def test_pnl_all_accounts_total_says_what_its_unrealised_covers():
    from ordertrack.cli import render_accounts

    held = {"open_qty": 5, "unrealised": None}
    data = {
        "accounts": [
            {"account": "a", "symbols": [held, {"open_qty": 3, "unrealised": 12.5}]},
            {"account": "b", "error": "no database"},
        ],
        "total": {"realised": 10.0, "unrealised": 12.5, "charges": None, "net": None},
    }
    assert render_accounts.pnl_total(data) == (
        "All accounts: realised ₹+10.00, unrealised ₹+12.50 on 1 of 2 open holdings"
        " (the rest: price unknown) (before charges)"
    )


def test_accounts_sharing_one_chat_are_told_apart(cli, home, telegram):
    """Seen by a new user: three family accounts notifying one chat each sent '✅ Executed:
    BUY INFY …' with nothing saying whose account had bought."""
    chat = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL")
    shared = [f"{n}={os.environ[n]}" for n in chat]
    for name in ("mom", "dad"):
        files = make(cli, home, name, *shared)
        files.orders(kotak_row("1", "complete", filled=100, avg="1850.00"))
        assert (
            cli(
                "--account",
                name,
                "pending",
                "add",
                "1",
                "--symbol",
                "INFY",
                "--side",
                "buy",
                "--qty",
                "100",
            ).code
            == 0
        )
        assert cli("--account", name, "verify").code == 0
    executed = [t for t in telegram.texts() if "Executed" in t]
    assert len(executed) == 2 and executed[0].endswith("Account mom")
    assert executed[1].endswith("Account dad")


def test_the_combined_reports_file_is_named_as_the_single_ones(cli, home, tmp_path, monkeypatch):
    """Seen by a new user: one day's combined report was '…-2026-12-07_2026-12-07.html' where
    the single report writes '…-2026-12-07.html'."""
    make(cli, home, "a")
    monkeypatch.chdir(tmp_path)
    assert cli("report", "--all-accounts", "--day", "2026-12-04").code == 0
    assert cli("report", "--all-accounts", "--from", "2026-12-01", "--to", "2026-12-04").code == 0
    assert sorted(p.name for p in tmp_path.glob("ordertrack-report-all-accounts-*")) == [
        "ordertrack-report-all-accounts-2026-12-01_2026-12-04.html",
        "ordertrack-report-all-accounts-2026-12-04.html",
    ]


def test_schedule_print_shows_exactly_what_install_writes_for_accounts(cli, home, crontab):
    """`schedule print --account NAME | --all-accounts` (and `--account NAME schedule print`)
    showed the default set-up's block with the account's log: now each account's own block,
    line for line what install then writes, and it writes nothing (no crontab, no database)."""
    for name in ("a", "b"):
        make(cli, home, name)
    shown = cli("schedule", "print", "--all-accounts")
    assert shown.code == 0, shown.err
    printed = [x for x in shown.out.splitlines() if not x.startswith("#   next: ")]
    assert not crontab.exists() and not db_of(home, "a").exists()
    one = cli("--account", "b", "schedule", "print")
    assert one.code == 0 and "# >>> ordertrack:b >>>" in one.out and "ordertrack:a" not in one.out
    assert cli("schedule", "print", "--account", "b").out == one.out
    assert "#   next: " in one.out  # each line with its next firing, as for the default block
    assert cli("schedule", "install", "--all-accounts").code == 0
    assert crontab.read_text().splitlines() == printed
    units = cli("schedule", "print", "--all-accounts", "--systemd")
    assert units.code == 0 and "ordertrack-b-verify.timer" in units.out
    assert cli("schedule", "print", "--account", "nosuch").code == 3  # ExitCode.CONFIG


def test_installing_an_account_that_moves_others_stagger_says_so(cli, home, crontab):
    """Seen by a new user: with dad, kid and mom installed, 'schedule install --account aunt'
    gave aunt slot +0 s, dad's too, and said nothing about it."""
    make(cli, home, "dad")
    make(cli, home, "mom")
    assert cli("schedule", "install", "--all-accounts").code == 0
    make(cli, home, "aunt")
    done = cli("schedule", "install", "--account", "aunt")
    said = " ".join(done.err.split())
    assert done.code == 0 and "dad, mom still run at their old stagger" in said
    assert "re-run 'ordertrack schedule install --all-accounts'" in said
    assert cli("schedule", "install", "--all-accounts").code == 0
    done = cli("schedule", "install", "--account", "aunt")
    assert "old stagger" not in done.err
