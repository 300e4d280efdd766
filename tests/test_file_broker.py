"""The file broker under concurrent producers and consumers: nothing is ever read half-written.

Stock kombu's filesystem transport creates a message file under its final name before writing
into it, and its consumer reads without the writer's lock, so a consumer polling at that moment
reads an empty or partial file and raises JSONDecodeError (the worker crash of `make run`).
The same holds for its exchange tables. These tests race real producers against a consumer on
real folders. To watch stock kombu fail them:

    FILE_BROKER_UNDER_TEST=kombu.transport.filesystem:Transport pytest tests/test_file_broker.py
"""

import hashlib
import logging
import multiprocessing
import os
import threading
import time
import uuid

import pytest
from kombu import Connection, Exchange, Producer, Queue

BROKER = os.environ.get("FILE_BROKER_UNDER_TEST", "billing_center.file_broker:Transport")
DEADLINE_SECONDS = 15


def options(root) -> dict[str, str]:
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "control_folder": str(root / "control"),
    }


@pytest.fixture
def broker_options(tmp_path):
    """Folders made beforehand, as stock kombu needs, so a stock run reaches the race itself."""
    made = options(tmp_path)
    for folder in made.values():
        os.makedirs(folder, exist_ok=True)
    return made


def connect(transport_options) -> Connection:
    return Connection("filesystem://", transport=BROKER, transport_options=transport_options)


def started(target, errors: list) -> threading.Thread:
    """A daemon thread running target; what it raises lands in errors."""

    def guarded():
        try:
            target()
        except BaseException as exc:  # reported by the test, with its type
            errors.append(exc)

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def run_threads(targets, errors: list) -> None:
    threads = [started(target, errors) for target in targets]
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in time"


def publish_messages(transport_options, producer_number: int, count: int) -> None:
    """One producer process: `count` messages of ~300 KB, so each takes a while to serialise and write."""
    with connect(transport_options) as conn:
        producer = Producer(conn.default_channel, serializer="json")
        for n in range(count):
            body = {"p": producer_number, "n": n, "body": f"{producer_number}:{n}:{PADDING}"}
            producer.publish(body, exchange="", routing_key="race")
            time.sleep(0.005)  # paced like real publishers, so the consumer is caught up and polling


PADDING = "x" * 300_000


def test_a_consumer_draining_while_two_producer_processes_publish_reads_every_message_whole(broker_options):
    """2 producer processes × 120 messages while one consumer polls without pause, as the worker does."""
    producers, per_producer = 2, 120
    expected = {
        (p, n): hashlib.sha256(f"{p}:{n}:{PADDING}".encode()).hexdigest()
        for p in range(producers)
        for n in range(per_producer)
    }
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=publish_messages, args=(broker_options, p, per_producer), daemon=True)
        for p in range(producers)
    ]
    received, errors = {}, []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        for process in processes:
            process.start()
        with connect(broker_options) as conn:
            channel = conn.default_channel
            while len(received) < len(expected) and time.monotonic() < deadline:
                try:
                    message = channel.basic_get("race", no_ack=True)
                except Exception as exc:  # stock kombu: JSONDecodeError on a file still being written
                    errors.append(exc)
                    continue
                if message is not None:
                    data = message.decode()
                    key = (data["p"], data["n"])
                    assert key not in received, f"message {key} delivered twice"
                    received[key] = hashlib.sha256(data["body"].encode()).hexdigest()
    finally:
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * producers, "a producer failed"
    assert not errors, f"the consumer read {len(errors)} broken message(s), the first: {errors[0]!r}"
    missing = sorted(set(expected) - set(received))
    assert not missing, f"{len(missing)} of {len(expected)} messages never arrived, e.g. {missing[:3]}"
    assert received == expected, "a message arrived with a different body"


def test_processes_binding_on_a_cold_start_lose_no_binding_and_never_read_a_half_written_table(broker_options):
    """20 rounds: 6 binders declare their queue on a fresh exchange at once while a reader routes."""
    binders, errors = 6, []
    for round_number in range(20):
        exchange = Exchange(f"cold-{round_number}-{uuid.uuid4().hex[:8]}", type="direct")
        start = threading.Barrier(binders + 1)
        finished = threading.Event()

        def bind(i, exchange=exchange, start=start):
            with connect(broker_options) as conn:
                start.wait(DEADLINE_SECONDS)
                Queue(f"{exchange.name}-q{i}", exchange, routing_key=f"k{i}")(conn.default_channel).declare()

        def read_tables(exchange=exchange, start=start, finished=finished):
            with connect(broker_options) as conn:
                start.wait(DEADLINE_SECONDS)
                while not finished.is_set():
                    conn.default_channel.get_table(exchange.name)  # what every publish through it does

        reader = started(read_tables, errors)
        run_threads([lambda i=i: bind(i) for i in range(binders)], errors)
        finished.set()
        reader.join(DEADLINE_SECONDS)
        assert not errors, f"round {round_number}: {len(errors)} error(s), the first: {errors[0]!r}"
        with connect(broker_options) as conn:
            table = conn.default_channel.get_table(exchange.name)
        bound = sorted(queue for _, _, queue in table)
        assert bound == sorted(f"{exchange.name}-q{i}" for i in range(binders)), f"round {round_number}: {bound}"


def test_a_published_message_is_routed_through_its_exchange_and_read_once(broker_options):
    exchange = Exchange("billing-route", type="direct")
    with connect(broker_options) as conn:
        queue = Queue("billing-route-q", exchange, routing_key="k")(conn.default_channel)
        queue.declare()
        Producer(conn.default_channel).publish({"hello": "world"}, exchange=exchange, routing_key="k")
        message = conn.default_channel.basic_get("billing-route-q", no_ack=True)
        assert message is not None and message.decode() == {"hello": "world"}
        assert conn.default_channel.basic_get("billing-route-q", no_ack=True) is None
        queue.delete()
        assert conn.default_channel.get_table("billing-route") == []


def test_the_broker_makes_its_folders_when_a_channel_opens(tmp_path):
    wanted = options(tmp_path / "fresh" / "celery-broker")
    with connect(wanted) as conn:
        Producer(conn.default_channel).publish({"n": 1}, exchange="", routing_key="celery")
        assert conn.default_channel.basic_get("celery", no_ack=True).decode() == {"n": 1}
    assert all(os.path.isdir(folder) for folder in wanted.values())


def test_a_file_that_is_not_a_message_is_set_aside_and_logged_not_raised(broker_options, caplog):
    """Only a foreign writer can leave one; the worker must not die on it, and a person must see it."""
    with open(os.path.join(broker_options["data_folder_in"], "0_torn.celery.msg"), "w") as file:
        file.write('{"body": "half')
    with connect(broker_options) as conn, caplog.at_level(logging.ERROR):
        Producer(conn.default_channel).publish({"n": 2}, exchange="", routing_key="celery")
        assert conn.default_channel.basic_get("celery", no_ack=True).decode() == {"n": 2}
    assert "unreadable message file" in caplog.text
    assert os.listdir(os.path.join(broker_options["data_folder_in"], ".rejected")) == ["0_torn.celery.msg"]


def test_make_run_publishes_and_consumes_through_this_broker(tmp_path):
    """Web, worker and beat all take their connection from the Celery app's settings: with the
    embedded defaults (no CELERY_BROKER_URL, as `make run` starts), that is this transport."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="billing_center.settings.base", BILLING_VAR_DIR=str(tmp_path))
    probe = (
        "import django; django.setup()\n"
        "from billing_center.celery import app\n"
        "from billing_center import file_broker\n"
        "for connection in (app.connection_for_write(), app.connection_for_read()):\n"
        "    with connection as conn:\n"
        "        print(isinstance(conn.transport, file_broker.Transport))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True"]


def test_a_connection_to_the_folders_logs_no_warning(broker_options, caplog):
    """`filesystem://` names no host and needs none: kombu warned on every connection that it used localhost."""
    with caplog.at_level(logging.WARNING), connect(broker_options) as connection:
        producer = Producer(connection.default_channel)
        producer.publish({"n": 1}, routing_key="quiet", declare=[Queue("quiet", Exchange("quiet"), "quiet")])
        connection.clone().ensure_connection()
        connection.info()
    assert [record.getMessage() for record in caplog.records if record.name.startswith("kombu")] == []
