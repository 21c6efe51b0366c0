"""Benchmark: an idle `ordertrack bot` run (issue 27: one getUpdates request, ≤ 0.15 s CPU).

Measured as installed: byte code cached (in a temporary PYTHONPYCACHEPREFIX), not compiled on
every start as under PYTHONDONTWRITEBYTECODE. A loopback Bot API answers getUpdates with no
updates at once (the long poll's wait is idle time, not CPU: `--wait 0` measures the same
work), counting every request. The first run registers the command list (setMyCommands,
getMe); the figures are the runs after it: the median CPU seconds (user + system) of the whole
process, the requests each made, and `python -c "import typer"` alternated with it as the
floor a Typer CLI cannot go below (on a busy machine the ratio is the steadier figure).
Asserts nothing about time. An editable install adds its path hook to every start: measure an
installed copy for the real figure (see scripts/bench_startup.py).

With `--accounts N`, the run is `bot --all-accounts` over N accounts (file broker, one shared
token, `[bot] enabled`) in a temporary HOME: still one request, the CPU growing with N (each
account's settings read and database opened).

    python scripts/bench_bot.py [--repeat 15] [--tls] [--accounts N]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN = "123456789:AAbench-token-not-a-real-one_0123456789"
TARGET_CPU = 0.15


class _Api(BaseHTTPRequestHandler):
    calls: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        self.calls.append(method)
        result: object = []
        if method == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "bench", "username": "bench_bot"}
        elif method != "getUpdates":
            result = True
        data = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _serve_tls(server: ThreadingHTTPServer, folder: Path) -> None:
    """A self-signed certificate for 127.0.0.1 (trusted by the runs through
    REQUESTS_CA_BUNDLE): the poll then pays for TLS as it does against api.telegram.org."""
    import ssl

    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)


def timed(args: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, check=False, cwd=cwd)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _accounts(env: dict[str, str], tmp: Path, count: int) -> None:
    """`count` accounts sharing the token, in a HOME of their own (the shell's settings gone)."""
    home = tmp / "home"
    folder = home / ".config" / "ordertrack" / "accounts"
    folder.mkdir(parents=True, mode=0o700)
    (tmp / "broker").mkdir()
    shared = {k: env.pop(k) for k in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL")}
    for k in ("ORDERTRACK_DB", "ORDERTRACK_BROKER"):
        env.pop(k)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    for n in range(count):
        path = folder / f"acct{n:02d}.env"
        path.write_text(
            f"ORDERTRACK_BROKER=file\nORDERTRACK_BROKER_DIR={tmp / 'broker'}\n"
            + "".join(f"{k}={v}\n" for k, v in shared.items())
        )
        path.chmod(0o600)
        (folder / f"acct{n:02d}.toml").write_text("[bot]\nenabled = true\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS, as api.telegram.org (needs openssl)"
    )
    parser.add_argument("--accounts", type=int, default=0, help="bot --all-accounts over N")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    with tempfile.TemporaryDirectory() as tmp:
        scheme = "https" if args.tls else "http"
        if args.tls:
            _serve_tls(server, Path(tmp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ORDERTRACK_", "TELEGRAM_", "KOTAK_", "KITE_"))
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte code cached, not compiled
        env.update(
            PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"),  # the cache stays out of the tree
            ORDERTRACK_DB=str(Path(tmp) / "bench.db"),
            ORDERTRACK_BROKER="file",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID="1001",
            TELEGRAM_API_URL=f"{scheme}://127.0.0.1:{server.server_address[1]}",
        )
        if args.tls:
            env["REQUESTS_CA_BUNDLE"] = str(Path(tmp) / "cert.pem")
        cli = [sys.executable, "-m", "ordertrack", "bot", "--wait", "0"]
        if args.accounts:
            cli.append("--all-accounts")
            _accounts(env, Path(tmp), args.accounts)
        floor = [sys.executable, "-c", "import typer"]
        timed(cli, env, tmp)  # creates the database, registers the commands, caches byte code
        timed(floor, env, tmp)
        walls, cpus, requests, floors = [], [], [], []
        for _ in range(args.repeat):  # alternated, so a drift of the machine touches both
            _Api.calls.clear()
            wall, cpu = timed(cli, env, tmp)
            walls.append(wall)
            cpus.append(cpu)
            requests.append(len(_Api.calls))
            floors.append(timed(floor, env, tmp)[1])
    server.shutdown()
    cpu = statistics.median(cpus)
    over = f" --all-accounts, {args.accounts} accounts" if args.accounts else ""
    print(f"idle bot run{over} over {scheme} (median of {args.repeat}):")
    print(f"  CPU seconds (user + system): {cpu:.3f}  (target ≤ {TARGET_CPU})")
    print(f"  wall seconds:                {statistics.median(walls):.3f}")
    typer_cpu = statistics.median(floors)
    print(f"  'import typer' CPU seconds:  {typer_cpu:.3f}  (ratio {cpu / typer_cpu:.1f}x)")
    print(f"  Bot API requests per run:    {max(requests)}")
    print(f"  within target: {'yes' if cpu <= TARGET_CPU and max(requests) == 1 else 'NO'}")


if __name__ == "__main__":
    main()
