"""FakeTwilio on a real loopback port, for worker processes that `responses` cannot reach.

Same Messages API, checks and records as tests/fakes/twilio.py (it reuses FakeTwilio's
handler), served by a threaded http.server in the test process. `hold_next()` makes the
next request wait inside the handler, after it is recorded, until `release()` or the
server stops: a worker can then be killed while its HTTP call is in flight.

    with FakeTwilioServer() as twilio:
        worker = CeleryWorker(service_env(..., **twilio.configure_env()))
        twilio.hold_next()
"""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from tests.fakes.twilio import FakeTwilio, error_body

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/[^/]+/Messages\.json$")


class FakeTwilioServer(FakeTwilio):
    def __init__(self, **kwargs):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads, self._server.block_on_close = True, False
        super().__init__(api_base=f"http://127.0.0.1:{self._server.server_address[1]}", **kwargs)
        self._lock = threading.Lock()
        self._holds: list[threading.Event] = []  # one per hold_next(), taken by requests in order
        self._gates: list[threading.Event] = []  # every hold ever made, so release() opens them all

    def __enter__(self) -> "FakeTwilioServer":
        threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def configure_env(self) -> dict[str, str]:
        """TWILIO_* and SMS_BACKEND for a worker subprocess (service_env's extra)."""
        return {
            "SMS_BACKEND": "accounts.sms.twilio.TwilioBackend",
            "TWILIO_API_BASE": self.api_base,
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_FROM_NUMBER": self.from_number,
            "TWILIO_MESSAGING_SERVICE_SID": "",
        }

    def hold_next(self) -> None:
        with self._lock:
            gate = threading.Event()
            self._holds.append(gate)
            self._gates.append(gate)

    def release(self) -> None:
        """Let every held request (and every hold not yet used) answer."""
        with self._lock:
            self._holds.clear()
            for gate in self._gates:
                gate.set()

    def _answer(self, path: str, body: str, headers) -> tuple[int, str] | None:
        """Status and body to send, or None to drop the connection (fail_next(error=...))."""
        if not MESSAGES_PATH.match(path):
            return 404, error_body(404, 20404, "The requested resource was not found")
        with self._lock:  # FakeTwilio records and pops its failures without a lock of its own
            answer = self._create(SimpleNamespace(url=self.api_base + path, body=body, headers=headers))
            gate = self._holds.pop(0) if self._holds else None
        if gate is not None:
            gate.wait()
        return None if isinstance(answer, Exception) else (answer[0], answer[2])

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                answer = fake._answer(self.path, body, self.headers)
                if answer is None:
                    self.close_connection = True
                    return
                status, data = answer[0], answer[1].encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the caller was killed while we held its request
                    pass

            def log_message(self, *args):
                pass

        return Handler
