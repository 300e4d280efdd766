"""Real processes for the reliability suite, each on loopback and each stopped by its PID.

gunicorn and a Celery worker run our code as in production; a private Redis and a private
PostgreSQL cluster can be stopped, paused and restarted without touching the machine's
shared servers (CI runs on them after us).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")


def service_env(*, database_url: str, broker_url: str, redis_url: str = "", **extra: str) -> dict[str, str]:
    """The environment our processes get: test settings, production's DEBUG=false, these services."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DJANGO_SETTINGS_MODULE="billing_center.settings.test",
        DEBUG="false",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# Started once per test process: waits for that process to end, however it ends (a failed test,
# Ctrl-C, SIGTERM, SIGKILL), then SIGKILLs every process group still listed in the file. A
# clean stop takes its group off the list first, so the reaper only ever meets what a dead test
# left behind.
REAPER = """
import os, select, signal, sys
test, listing = int(sys.argv[1]), sys.argv[2]
select.select([os.pidfd_open(test)], [], [])
try:
    groups = {int(line) for line in open(listing).read().split()}
except OSError:
    groups = set()
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
try:
    os.unlink(listing)
except OSError:
    pass
"""


class Reaper:
    """The list of process groups this test process started and has not stopped yet."""

    def __init__(self):
        self.listing = Path(tempfile.mkstemp(prefix="billing-reaper-", suffix=".groups")[1])
        self.groups: set[int] = set()
        self.lock = threading.Lock()
        subprocess.Popen(
            [sys.executable, "-c", REAPER, str(os.getpid()), str(self.listing)],
            start_new_session=True,  # Ctrl-C at the terminal reaches the test, not its reaper
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def watch(self, group: int) -> None:
        with self.lock:
            self.groups.add(group)
            self._write()

    def forget(self, group: int) -> None:
        with self.lock:
            self.groups.discard(group)
            self._write()

    def _write(self) -> None:
        partial = self.listing.with_suffix(".partial")
        partial.write_text("".join(f"{group}\n" for group in sorted(self.groups)))
        partial.replace(self.listing)  # the reaper never reads half a list


_reaper: Reaper | None = None


def reaper() -> Reaper:
    global _reaper
    if _reaper is None:
        _reaper = Reaper()
    return _reaper


def group_members(group: int) -> list[int]:
    """PIDs still alive in process group `group` (zombies waiting for their parent excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                found.append(int(entry.name))
    return found


class Process:
    """A child in its own session, so a stop reaches everything it started; if the test
    process dies first, its reaper ends the whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = Path(tempfile.mkstemp(prefix=f"billing-{name}-", suffix=".log")[1])
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        reaper().watch(self.popen.pid)  # its own session: the group id is its pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        if self.popen is None:
            return
        if self.running():
            self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout)
        # The leader gone, what it started may linger (a killed Celery parent's pool child).
        if self.left_running():
            self.kill_group()
            wait_until(lambda: not self.left_running(), timeout=timeout, what=f"{self.name}'s processes to end")
        reaper().forget(self.popen.pid)

    def left_running(self) -> list[int]:
        return group_members(self.popen.pid) if self.popen is not None else []

    def kill_group(self) -> None:
        """SIGKILL to every process of the group, the leader alive or not."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()  # a process that never became ready is not left behind
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# What the reliability tests start: nginx, PgBouncer (and the runuser before it), gunicorn, Celery, moto.
OUR_COMMANDS = re.compile(r"nginx|pgbouncer|gunicorn|celery|moto_server")
SHELLS = {"sh", "dash", "bash", "make"}


def left_running_here() -> list[str]:
    """Processes of ours still running from this checkout (nginx, PgBouncer, gunicorn, Celery,
    moto): after a test, however it ended, there must be none. `make cluster` asks."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            started_here = Path(os.readlink(entry / "cwd")) == ROOT or "/billing-pgbouncer-" in command
            program = Path(os.readlink(entry / "exe")).name
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if started_here and program not in SHELLS and OUR_COMMANDS.search(command):
            found.append(f"{entry.name} {command[:160]}")
    return found


@contextmanager
def stopped_at_exit(processes: list["Process"]):
    """Whatever is appended to `processes` is stopped on the way out, last started first."""
    try:
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()


def children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (gunicorn's workers, a Celery worker's pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Gunicorn(Process):
    def __init__(self, env: dict[str, str], *, workers: int = 2, threads: int = 1, timeout: int = 30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(BIN / "gunicorn"), "billing_center.wsgi", "--bind", f"127.0.0.1:{self.port}"]
        argv += ["--workers", str(workers), "--threads", str(threads), "--timeout", str(timeout)]
        argv += ["--graceful-timeout", "5"]
        super().__init__("gunicorn", argv, env)
        self.workers = workers

    def start(self) -> None:
        super().start()
        wait_until(self.answering, timeout=60, what=f"gunicorn on {self.url} ({self.log_path})")
        wait_until(lambda: len(self.worker_pids()) == self.workers, timeout=30, what="gunicorn's workers")

    def answering(self) -> bool:
        if not self.running():
            raise RuntimeError(f"gunicorn exited:\n{self.log()[-3000:]}")
        try:
            requests.get(f"{self.url}/healthz", timeout=5)
            return True
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow to answer on a busy machine
            return False

    def worker_pids(self) -> list[int]:
        return children(self.pid)


class CeleryWorker(Process):
    def __init__(self, env: dict[str, str], *, pool: str = "solo", concurrency: int = 1):
        argv = [str(BIN / "celery"), "-A", "billing_center", "worker", "--pool", pool, "--loglevel", "INFO"]
        argv += ["--concurrency", str(concurrency)]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        super().__init__("celery", argv, env)

    def start(self) -> None:
        super().start()
        wait_until(lambda: " ready." in self.log() or not self.running(), timeout=60, what="the Celery worker")
        if not self.running():
            raise RuntimeError(f"the Celery worker exited:\n{self.log()[-3000:]}")


class Workers:
    """Several Celery worker processes on one host (each with its own name), started and stopped together."""

    def __init__(self, env: dict[str, str], count: int = 2):
        self.workers = [CeleryWorker(env) for _ in range(count)]
        for number, worker in enumerate(self.workers):
            worker.argv += ["--hostname", f"worker{number}@%h"]

    def __enter__(self):
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            worker.stop()


class RedisServer(Process):
    """A private Redis that keeps nothing on disk; stop() and start() again keep its port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        super().__init__("redis", argv)

    def start(self) -> None:
        super().start()
        wait_until(self.ping, timeout=10, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def postgres_bin(name: str) -> str | None:
    versions = sorted(PG_BIN.glob("*/bin"), key=lambda p: int(p.parent.name)) if PG_BIN.exists() else []
    for folder in reversed(versions):
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


class PostgresCluster:
    """A throw-away PostgreSQL cluster in a temporary folder: ours to stop and restart.

    The server refuses to run as root, so as root it runs as the `postgres` user.
    """

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="billing-pg-"))
        self.data = self.folder / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @staticmethod
    def available() -> bool:
        return bool(postgres_bin("initdb") and postgres_bin("pg_ctl"))

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_postgres, *argv], check=True, capture_output=True, cwd=self.folder)

    def create(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        # "fast": the server ends every session at once, as a restart for maintenance does.
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def copy_database(self, source_url: str, name: str) -> None:
        """Schema and rows of `source_url` (our migrated test database) into a new database here."""
        self._run(
            postgres_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        dump = subprocess.run([postgres_bin("pg_dump"), "--no-owner", source_url], check=True, capture_output=True)
        subprocess.run(
            [postgres_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],
            input=dump.stdout,
            check=True,
            capture_output=True,
        )

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class PgBouncer(Process):
    """Debian's PgBouncer in transaction mode on a loopback port, in front of a PostgreSQL URL.

    A client holds a server connection for one transaction only, and a few server connections
    serve every client: what a cluster of web and worker nodes needs in front of PostgreSQL.
    It refuses to run as root, so as root it runs as the `postgres` user."""

    BINARY = "/usr/sbin/pgbouncer"

    def __init__(self, upstream_url: str, *, pool_size: int = 4):
        from urllib.parse import urlsplit

        upstream = urlsplit(upstream_url)
        self.port, self.database = free_port(), upstream.path.lstrip("/")
        self.user = upstream.username or "postgres"
        self.folder = Path(tempfile.mkdtemp(prefix="billing-pgbouncer-"))
        (self.folder / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={upstream.hostname or '127.0.0.1'} port={upstream.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            f"admin_users = {self.user}\nignore_startup_parameters = extra_float_digits\n"
        )
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        super().__init__("pgbouncer", [*as_postgres, self.BINARY, str(self.folder / "pgbouncer.ini")])

    @classmethod
    def available(cls) -> bool:
        return Path(cls.BINARY).exists()

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> None:
        super().start()
        wait_until(self.answering, timeout=20, what=f"pgbouncer on 127.0.0.1:{self.port} ({self.log_path})")

    def answering(self) -> bool:
        try:
            self.show("VERSION")
        except Exception:  # not listening yet
            return False
        return True

    def show(self, what: str) -> list[dict]:
        """PgBouncer's own console (SHOW POOLS, SHOW STATS, ...): one dict per row."""
        import psycopg

        admin = f"postgres://{self.user}@127.0.0.1:{self.port}/pgbouncer"
        with psycopg.connect(admin, autocommit=True, prepare_threshold=None) as db:
            cursor = db.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        shutil.rmtree(self.folder, ignore_errors=True)


class Nginx(Process):
    """Debian's nginx as the load balancer in front of web nodes, on loopback. TLS ends here, as
    in production (a certificate made for 127.0.0.1, which clients trust through `ca_file`): the
    nodes get plain http with X-Forwarded-Proto and X-Forwarded-For. Besides the balanced
    entrance at `url`, `node_urls[i]` is an https entrance to node i alone, for a step that
    must happen on one given node."""

    BINARY = "/usr/sbin/nginx"

    def __init__(self, upstreams: list[str]):
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="billing-nginx-"))
        self.ca_file = self.folder / "cert.pem"
        node_ports = [free_port() for _ in upstreams]
        self.node_urls = [f"https://127.0.0.1:{port}" for port in node_ports]
        servers = " ".join(f"server {address} max_fails=1 fail_timeout=30s;" for address in upstreams)
        temp = " ".join(f"{kind}_temp_path {self.folder / kind};" for kind in ("proxy", "fastcgi", "uwsgi", "scgi"))
        tls = f"ssl_certificate {self.ca_file}; ssl_certificate_key {self.folder / 'key.pem'};"
        proxy = (
            "proxy_set_header Host $http_host;\n"
            # The client's own X-Forwarded-For, if any, then the address nginx saw: TRUSTED_PROXY_COUNT=1.
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      proxy_set_header X-Forwarded-Proto $scheme;\n"  # overwrites whatever the client sent
            "      proxy_read_timeout 60s;"
        )
        entrances = "".join(
            f"  upstream node{i} {{ server {address}; }}\n"
            f"  server {{ listen 127.0.0.1:{port} ssl; {tls}\n"
            f"    location / {{ proxy_pass http://node{i}; {proxy} }} }}\n"
            for i, (address, port) in enumerate(zip(upstreams, node_ports, strict=True))
        )
        (self.folder / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\nerror_log {self.folder / 'error.log'} warn;\npid {self.folder / 'nginx.pid'};\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; client_body_temp_path {self.folder / 'body'}; {temp}\n"
            f"  client_max_body_size 60m;\n  upstream billing {{ {servers} }}\n"
            f"  server {{ listen 127.0.0.1:{self.port} ssl; {tls}\n"
            f"    location / {{ proxy_pass http://billing; {proxy}\n"
            # A node that dies mid-request: the request goes to the next one (our writes are idempotent).
            "      proxy_next_upstream error timeout http_502 non_idempotent; proxy_next_upstream_tries 2; } }\n"
            f"{entrances}}}\n"
        )
        argv = [self.BINARY, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-g", "daemon off;"]
        super().__init__("nginx", argv)

    @classmethod
    def available(cls) -> bool:
        return Path(cls.BINARY).exists() and bool(shutil.which("openssl"))

    def start(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            + ["-keyout", str(self.folder / "key.pem"), "-out", str(self.ca_file), "-days", "2"]
            + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True,
            capture_output=True,
        )
        super().start()
        wait_until(self.answering, timeout=20, what=f"nginx on {self.url} ({self.folder / 'error.log'})")

    def answering(self) -> bool:
        try:
            requests.get(f"{self.url}/healthz", timeout=2, verify=self.ca_file)
        except requests.RequestException:
            return False
        return True

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        shutil.rmtree(self.folder, ignore_errors=True)


class MotoServer(Process):
    """moto's S3-compatible server in a process of its own, on a loopback port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)])

    def start(self) -> None:
        super().start()
        wait_until(self.answering, timeout=30, what=f"moto_server on {self.url} ({self.log_path})")

    def answering(self) -> bool:
        if not self.running():
            raise RuntimeError(f"moto_server exited:\n{self.log()[-3000:]}")
        try:
            requests.get(f"{self.url}/moto-api/", timeout=2)
        except requests.ConnectionError:
            return False
        return True


if __name__ == "__main__":
    # `python -m tests.reliability.processes`: exit 1, naming them, if any of ours still runs here.
    left = left_running_here()
    print("\n".join(["Still running:", *left]) if left else "Nothing left running.")
    sys.exit(1 if left else 0)
