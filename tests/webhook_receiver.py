"""A loopback webhook receiver for end-to-end tests: it checks every signature and records every
request (Idempotency-Key, body, signature valid, its answer) before answering, as a receiver that
acts on an event would.

In-process (`Receiver(...).start()`, a thread) or as a process of its own, so a test can SIGKILL
it mid-run and start it again on the same port:

    python tests/webhook_receiver.py FOLDER SECRET [PORT]

The process prints its port on the first line of stdout, appends each request as a JSON line to
FOLDER/got.jsonl, and takes its answers from FOLDER/script (one per line, consumed in order;
'ok' when empty): 'ok', an HTTP status such as '500', 'slow' (answer 200 after SLOW seconds, past
the sender's timeout), 'hang' (never answer), 'huge' (200 with a HUGE-byte body) or 'bomb' (200
with a gzip body that inflates to HUGE bytes)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SECRET = "whsec-test-4f1c9a7e2b6d8035"  # the signing secret the webhook tests configure
SLOW = 2.0  # seconds: beyond the 1-second [notify] timeout_seconds the tests configure
HANG = 60.0
MiB = 1024 * 1024
HUGE = 300 * MiB  # bytes of a 'huge' or inflated 'bomb' answer (issue 23 row 6)


def filler(size: int) -> Iterator[bytes]:
    """`size` bytes of JSON whitespace in 1 MiB pieces: a huge reply never held whole here."""
    for start in range(0, size, MiB):
        yield b" " * min(MiB, size - start)


@functools.cache
def bomb(size: int) -> bytes:
    """`size` bytes of filler gzipped: about a thousandth of it on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(packer.compress(piece) for piece in filler(size)), packer.flush()])


def huge(size: int, gzip: bool) -> tuple[dict[str, str], Iterable[bytes]]:
    """Headers and body pieces of a huge reply or of a gzip bomb."""
    if gzip:
        packed = bomb(size)
        return {"Content-Encoding": "gzip", "Content-Length": str(len(packed))}, [packed]
    return {"Content-Length": str(size)}, filler(size)


def verified(secret: str, header: str, body: bytes) -> bool:
    """The X-Ordertrack-Signature `t=<stamp>,v1=<hex>` checked as docs/events.md tells a
    receiver to (constant-time comparison)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        expected = hmac.new(
            secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(fields["v1"], expected)
    except (KeyError, ValueError):
        return False


class Receiver:
    """Records into `got` (and FOLDER/got.jsonl when `folder` is given); answers from `script`
    (or FOLDER/script), each 'ok' after `delay` seconds."""

    def __init__(
        self, secret: str, folder: Path | None = None, port: int = 0, delay: float = 0.0
    ) -> None:
        self.secret, self.folder, self.delay = secret, folder, delay
        self.got: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/ordertrack"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_answer(self) -> str:
        if self.folder is None:
            return self.script.pop(0) if self.script else "ok"
        path = self.folder / "script"
        lines = path.read_text().split() if path.exists() else []
        if lines:
            path.write_text("\n".join(lines[1:]))
        return lines[0] if lines else "ok"

    def record(self, key: str | None, body: bytes, signature: str) -> str:
        with self.lock:
            answer = self.next_answer()
            seen = {
                "key": key,
                "body": body.decode(),
                "signed": verified(self.secret, signature, body),
                "answer": answer,
            }
            self.got.append(seen)
            if self.folder is not None:
                with open(self.folder / "got.jsonl", "a") as log:
                    log.write(json.dumps(seen) + "\n")
        return answer


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = receiver.record(
                self.headers.get("Idempotency-Key"),
                body,
                self.headers.get("X-Ordertrack-Signature") or "",
            )
            time.sleep({"slow": SLOW, "hang": HANG}.get(answer, receiver.delay))
            status = 200 if answer in ("ok", "slow", "hang", "huge", "bomb") else int(answer)
            headers, pieces = (
                huge(HUGE, answer == "bomb")
                if answer in ("huge", "bomb")
                else ({"Content-Length": "2"}, [b"ok"])
            )
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(piece)
            except OSError:  # the sender gave up waiting, or read no more of a huge body
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def received(folder: Path) -> list[dict[str, Any]]:
    """What a receiver process recorded in FOLDER (across its restarts)."""
    path = folder / "got.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> None:
    folder, secret = Path(argv[0]), argv[1]
    receiver = Receiver(secret, folder, int(argv[2]) if len(argv) > 2 else 0)
    print(receiver.port, flush=True)
    receiver.server.serve_forever(0.02)


if __name__ == "__main__":
    main(sys.argv[1:])
