import html
import re
from contextlib import contextmanager

HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')


def hidden_fields(response) -> dict[str, str]:
    """The hidden inputs a page renders: what a browser would submit back."""
    return {m["name"]: html.unescape(m["value"]) for m in HIDDEN.finditer(response.content.decode())}


def through_confirmation(client, url: str, data: dict, **options):
    """An admin action as a clerk sends it: its "are you sure?" page first, then Yes with what the page carries
    back (the figures or accounts it showed)."""
    page = client.post(url, {key: value for key, value in data.items() if key != "post"})
    return client.post(url, {**hidden_fields(page), **data, "post": "yes"}, **options)


@contextmanager
def failing_writes(table: str, operation: str = "INSERT", message: str = "injected failure"):
    """A real database fault: a trigger that refuses every `operation` on `table` while active."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION fail_{table}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{message}'; END; "
                f"$$ LANGUAGE plpgsql; CREATE TRIGGER fail_{table} BEFORE {operation} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION fail_{table}();"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER fail_{table} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER fail_{table} ON {table}; DROP FUNCTION fail_{table}();")
            else:
                cursor.execute(f"DROP TRIGGER fail_{table}")


def staff_login(client, user):
    """Sign a staff user in as admin requires: password session plus a verified one-time code."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def current_otp(device) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def switch_broker(
    url: str | None, transport_options: dict | None = None, transport: str | None = None
) -> tuple[str | None, dict, str | None]:
    """Point this process's publishing at another broker; returns what was there before.

    It sets the *write* URL: Celery reads `broker_url` from $CELERY_BROKER_URL first (as in
    CI), so assigning `broker_url` would silently keep publishing to the old broker. It also
    sets `broker_transport` (None: the URL's scheme decides), since the file broker's transport
    class in settings would otherwise win over the new URL's scheme. The
    connection pools are dropped (not closed: a running test worker may still hold one) so
    the next publish dials anew, and the publish circuit breaker is reset so an earlier
    failure does not silence the next publish.
    """
    from accounts.notifications import broker_breaker
    from billing_center.celery import app

    before = app.conf.get("broker_write_url"), app.conf.broker_transport_options, app.conf.broker_transport
    app.conf.broker_write_url = url
    app.conf.broker_transport = transport
    if transport_options is not None:
        app.conf.broker_transport_options = transport_options
    app._pool = None
    app.amqp._producer_pool = None
    broker_breaker.reset()
    return before


def transport_of(url: str | None) -> str | None:
    """The transport for an explicit broker URL passed to connection_for_write(): its scheme, or None
    (settings' broker_transport) for none or filesystem://, so a redis:// URL is not read with the
    file broker's transport class that settings choose."""
    scheme = url.split("://", 1)[0] if url else None
    return None if scheme in (None, "filesystem") else scheme


def a_finance_zone_before_its_midnight(now, *, room=None) -> str:
    """A FINANCE_TIME_ZONE in which `now` is still more than `room` (an hour) before midnight, for a
    test that makes a ticket "due today" a few minutes from now: in Shanghai's last hour of the day
    (16:00 UTC) such a ticket is due tomorrow."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    later = now + (room or timedelta(hours=1))
    return next(
        zone
        for zone in ("Asia/Shanghai", "Europe/London")
        if later.astimezone(ZoneInfo(zone)).date() == now.astimezone(ZoneInfo(zone)).date()
    )


def _text(fragment: str) -> str:
    """A page's fragment as a reader reads it: tags dropped, entities decoded, white space folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def recent_actions(client) -> list[str]:
    """The admin home's Recent actions (the signed-in user's own), each entry as read: the record, its kind and
    what was done; [] where the panel says none."""
    page = client.get("/admin/").content.decode()
    panel = re.search(r'data-testid="recent-actions">(.*?)</ul>', page, re.S)
    items = re.findall(r"<li[^>]*>(.*?)</li>", panel[1], re.S) if panel else []
    return [_text(re.sub(r'<span class="visually-hidden">.*?</span>', "", item, flags=re.S)) for item in items]


def admin_history(client, url: str) -> list[tuple[str, str]]:
    """What a record's History page says was done to it in admin (LogEntry): (who, what) per row, oldest first."""
    page = client.get(url).content.decode()
    table = re.search(r'data-testid="change-log">(.*?)</table>', page, re.S)
    rows = re.findall(r'<th scope="row">.*?</th>\s*<td>(.*?)</td>\s*<td>(.*?)</td>', table[1], re.S) if table else []
    return [(_text(who), _text(what)) for who, what in rows]
