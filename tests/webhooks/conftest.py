"""A real webhook receiver on a loopback port: it records what arrives, and can fail, or hang."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from djmoney.money import Money

from accounts.enterprise import allocate
from accounts.ledger import credit_deposit
from tests.factories import UserFactory
from tests.tickets.conftest import bank, certificate_dir, clerk, finance_group  # noqa: F401 (fixtures)


def master_allocates(member, *, key: str, listen=None):
    """The member's master, funded with 100.00 USD by bank transfer, allocates 40.00 to it; `listen`,
    if given, is called with the master's user first. Returns that user."""
    master_user = UserFactory(account=member.enterprise_master)
    if listen is not None:
        listen(master_user)
    master_id = member.enterprise_master_id
    credit_deposit(account_id=master_id, amount=Money("100.00", "USD"), kind="bank_transfer", source_ref=f"bank:{key}")
    allocate(master_id=master_id, member_id=member.pk, amount=Money("40.00", "USD"), actor=master_user, request_key=key)
    return master_user


@dataclass
class Received:
    headers: dict
    body: bytes
    path: str = "/hooks"


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with 503 first
    status: int = 200  # then this
    hang: threading.Event | None = None  # set: each request waits for it before answering
    location: str = ""  # a Location header to answer with (a redirect, when status is 3xx)
    endless: bool = False  # announce 100 MB and keep sending until the reader hangs up
    drip: float = 0  # seconds between the answer's bytes, status line and headers included
    sent: int = 0  # bytes of answer body written
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict, body: bytes, path: str = "/hooks") -> int:
        with self.lock:
            self.requests.append(Received(headers, body, path))
            failing = self.fail_next > 0
            self.fail_next -= failing
        self.arrived.set()
        if self.hang is not None:
            self.hang.wait(timeout=30)
        return 503 if failing else self.status

    def drip_answer(self, out) -> None:
        """A 200 one byte at a time, each well within any read timeout, until the reader hangs up (or 30 s)."""
        stop = time.monotonic() + 30
        try:
            for byte in b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok":
                if time.monotonic() > stop:
                    return
                out.write(bytes([byte]))
                out.flush()
                self.sent += 1
                time.sleep(self.drip)
        except OSError:
            pass  # the reader hung up

    def trickle(self, out) -> None:
        """64 KB of the 100 MB announced, then a kilobyte every tenth of a second, until the reader
        hangs up (or 15 s): a reader that wants it all never gets to the end."""
        out.write(b"x" * 65536)
        self.sent = 65536
        stop = time.monotonic() + 15
        try:
            while time.monotonic() < stop:
                out.write(b"x" * 1024)
                out.flush()
                self.sent += 1024
                time.sleep(0.1)
        except OSError:
            pass  # the reader hung up


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1, 1, 1, 1, 1, 1]

    holder: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            receiver = holder["receiver"]
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body, self.path)
            if receiver.drip:
                receiver.drip_answer(self.wfile)
                return
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            if receiver.location:
                self.send_header("location", receiver.location)
            if receiver.endless:
                self.send_header("content-length", str(100 * 2**20))
            self.end_headers()
            if not receiver.endless:
                try:
                    self.wfile.write(b"ok" if status < 300 else b"try later")
                except BrokenPipeError:
                    pass  # the sender stopped waiting (a receiver that hung past its timeout)
                return
            receiver.trickle(self.wfile)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["receiver"]
    if holder["receiver"].hang is not None:
        holder["receiver"].hang.set()
    server.shutdown()
    server.server_close()
