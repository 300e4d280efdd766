"""Mail servers for tests, on Django's in-memory backend (messages land in its test outbox):

- SlowEmailBackend takes `seconds_per_message` for each message (an SMTP server under load), so a
  batch's sending can outlast part of the outbox's lease;
- DroppingEmailBackend accepts every message and, once armed (`drop_connection_on_next_send`), has
  PostgreSQL drop the sending process's database connection as a message goes out — what a restart or
  a failover does to a worker mid-batch.
"""

import time

import psycopg
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection


class SlowEmailBackend(EmailBackend):
    seconds_per_message = 0.4

    def send_messages(self, messages):
        time.sleep(self.seconds_per_message * len(messages))
        return super().send_messages(messages)


ARMED = {"once": False}


def drop_connection_on_next_send() -> None:
    ARMED["once"] = True


class DroppingEmailBackend(EmailBackend):
    def send_messages(self, messages):
        sent = super().send_messages(messages)
        if ARMED["once"]:
            ARMED["once"] = False
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (pid,) = cursor.fetchone()
            params = connection.get_connection_params()
            where = {key: params[key] for key in ("dbname", "user", "host", "port", "password") if params.get(key)}
            with psycopg.connect(**where, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return sent
