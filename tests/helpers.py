"""Builders for Kotak Neo replies, shaped like broker-apis.md §4 and §9."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from itertools import count
from pathlib import Path
from typing import Any

import pytest

_ns = count(1737536606366027474, 1000)


def kotak_row(
    order_id: str,
    status: str = "open",
    *,
    symbol: str = "INFY",
    side: str = "B",
    qty: Any = 100,
    filled: Any = 0,
    avg: Any = "0.00",
    reason: str = "--",
    placed: str = "24-Nov-2026 09:20:00",
    tag: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "nOrdNo": order_id,
        "ordSt": status,
        "stat": "Ok",
        "trdSym": f"{symbol}-EQ",
        "sym": symbol,
        "exSeg": "nse_cm",
        "tok": "1594",
        "trnsTp": side,
        "prod": "CNC",
        "prcTp": "L",
        "vldt": "DAY",
        "qty": qty,
        "fldQty": filled,
        "unFldSz": 0,
        "cnlQty": 0,
        "prc": "1850.00",
        "trgPrc": "0.00",
        "avgPrc": avg,
        "exOrdId": "NA",
        "rejRsn": reason,
        "ordDtTm": placed,
        "hsUpTm": "2026/11/24 09:20:00",
        "updRecvTm": next(_ns),
        "ordGenTp": "NA",
    }
    if tag is not None:
        row["GuiOrdId"] = tag
    row.update(extra)
    return row


def book(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"stat": "Ok", "stCode": 200, "tid": "server3_282711", "data": list(rows)}


def history_reply(*rows: dict[str, Any]) -> dict[str, Any]:
    """An order-history reply in Kotak's documented shape (kotak-samples/order-history.json):
    rows newest first, yet `updRecvTm` RISES down the list and `boeSec` is one value for all,
    because both stamp the reply, not the state change. Pass the rows newest first."""
    stamped = [
        {**row, "updRecvTm": 1737536606366027474 + 90000 * i, "boeSec": 1737536606}
        for i, row in enumerate(rows)
    ]
    return book(*stamped)


NO_DATA = {"stat": "Not_Ok", "errMsg": "No Data", "stCode": 5203, "tid": "server4_3946598"}
SESSION_EXPIRED = {"stCode": 100022, "errMsg": "invalid session token", "stat": "Not_Ok"}


class BrokerFiles:
    """A folder for ORDERTRACK_BROKER=file, written the way Kotak Neo replies."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, payload: Any) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        path.write_text(text, encoding="utf-8")

    def orders(self, *rows: dict[str, Any]) -> None:
        self.write("orders.json", book(*rows) if rows else NO_DATA)

    def history(self, order_id: str, *rows: dict[str, Any]) -> None:
        """History rows, newest first, written in the documented shape (history_reply)."""
        self.write(f"history/{order_id}.json", history_reply(*rows))

    def no_history_support(self) -> None:
        for path in (self.folder / "history").glob("*"):
            path.unlink()
        if (self.folder / "history").exists():
            (self.folder / "history").rmdir()


def unwrapped(out: str) -> str:
    """A terminal's output with each wrapped line joined back: doctor and events wrap long
    lines under their own text (indented), so a test reads one line per check or event."""
    return re.sub(r"\n +(?=\S)", " ", out)


# ---- the real cron daemon (tests marked `cron`; root's crontab, see test_schedule_cron.py) ----

EXECUTABLE = Path(os.path.abspath(sys.executable)).parent / "ordertrack"


def cron_binary() -> str:
    if os.geteuid() != 0:
        pytest.skip("the real-cron test needs root (to write a crontab and start cron)")
    if shutil.which("cron") is None:
        if shutil.which("apt-get") is None:
            pytest.skip("no cron and no apt-get to install it")
        subprocess.run(
            "apt-get install -y -qq cron || (apt-get update -qq && apt-get install -y -qq cron)",
            shell=True,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return shutil.which("cron") or "/usr/sbin/cron"


def running_cron() -> bool:
    return subprocess.run(["pgrep", "-x", "cron"], capture_output=True).returncode == 0


def start_cron() -> int:
    subprocess.run([cron_binary()], check=True)
    return int(
        subprocess.run(
            ["pgrep", "-x", "-n", "cron"], capture_output=True, text=True
        ).stdout.split()[0]
    )


def stop_cron(pid: int) -> None:
    """SIGTERM, then wait until it is gone, so the next test does not see it dying."""
    os.kill(pid, 15)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running_cron():
        time.sleep(0.1)


def write_crontab_seen(text: str) -> None:
    """Write root's crontab so the running cron daemon surely reloads it. Debian's cron reloads
    only when the spool's mtime (whole seconds) differs from what it last loaded: a write in
    the same second as its last load (a daemon just started, a crontab just restored) can go
    unseen for ever. Writing again in a later second makes the change visible."""
    subprocess.run(["crontab", "-"], input=text, text=True, check=True)
    time.sleep(1.1)
    subprocess.run(["crontab", "-"], input=text, text=True, check=True)


# ---- headless Chromium (.ci/run installs Debian's when it is missing) ---------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Open `page` in headless Chromium with `args` (--dump-dom, --screenshot=…)."""
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # the sandbox refuses root
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            *sandbox,
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def browser_errors(stderr: str) -> list[str]:
    """What Chromium logged that a page must not cause: console output, uncaught errors,
    failed loads."""
    return [x for x in stderr.splitlines() if "CONSOLE" in x or "Uncaught" in x or "ERR_" in x]
