"""The reader's language and time zone: Accept-Language before sign-in, the header's switch (a
cookie, and the profile once signed in), the profile's language winning after sign-in, the
browser's time zone kept at sign-in, and every date shown in the user's zone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry, User
from tests.factories import PendingTopUpFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "secret-pass-123"


def test_before_sign_in_the_browsers_accept_language_picks_the_page_language(client):
    chinese = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="zh-hans">' in chinese
    assert "登录计费中心" in chinese and "用户名" in chinese and "密码" in chinese
    assert "Sign in to Billing Center" not in chinese
    english = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en">' in english and "Sign in to Billing Center" in english


def test_the_header_switch_before_sign_in_sets_the_language_cookie(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="language" value="zh-hans"' in page  # the switch offers the other language
    response = client.post("/billing/language/", {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert "登录计费中心" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_switch_never_redirects_off_the_site(client):
    response = client.post("/billing/language/", {"language": "en", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/billing/language/"


def test_an_unknown_language_or_time_zone_is_refused_and_nothing_is_saved(client):
    user = UserFactory()
    client.force_login(user)
    assert client.post("/billing/language/", {"language": "xx"}).status_code == 400
    assert client.post("/billing/language/", {"language": "en", "time_zone": "Mars/Olympus"}).status_code == 400
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("", "")


def test_a_post_without_a_language_is_refused_and_keeps_the_profiles(client):
    user = UserFactory(language="zh-hans", time_zone="Asia/Shanghai")
    client.force_login(user)
    for form in ({}, {"next": "/billing/"}, {"time_zone": "UTC"}):
        response = client.post("/billing/language/", form)
        assert response.status_code == 400, form
        assert "请选择语言。" in response.content.decode()  # the form's error, in the profile's language
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("zh-hans", "Asia/Shanghai")
    # '' is a choice: follow the browser again.
    assert client.post("/billing/language/", {"language": ""}).status_code == 302
    user.refresh_from_db()
    assert user.language == ""


def test_signed_in_the_profile_language_wins_over_the_browser(client):
    user = UserFactory(language="zh-hans")
    client.force_login(user)
    page = client.get("/billing/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="zh-hans">' in page and "概览" in page and "退出" in page
    user.language = ""  # follow the browser again
    user.save()
    assert '<html lang="en">' in client.get("/billing/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()


def test_the_switch_saves_the_language_on_the_profile_of_a_signed_in_user(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/billing/language/", {"language": "zh-hans", "next": "/billing/"})
    assert response.status_code == 302 and response["Location"] == "/billing/"
    user.refresh_from_db()
    assert user.language == "zh-hans"
    assert user.time_zone == ""  # the header's switch leaves the time zone alone


def test_the_language_page_saves_language_and_time_zone(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get("/billing/language/")
    assert page.status_code == 200 and "Asia/Shanghai" in page.content.decode()
    response = client.post("/billing/language/", {"language": "zh-hans", "time_zone": "Asia/Shanghai"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("zh-hans", "Asia/Shanghai")
    assert "已保存" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    "language, follow",
    [
        ("zh-hans", "跟随浏览器语言（电子邮件和短信使用英语）"),
        ("en", "The browser's language (e-mails and text messages in English)"),
    ],
)
def test_following_the_browser_says_which_language_messages_go_in(client, language, follow):
    """Pages follow the browser; e-mails and texts cannot, and go in the site's language: a signed-in
    reader's choice says so, the language named in the page's own (not "en", nor "English" in Chinese)."""
    client.force_login(UserFactory())
    page = client.get("/billing/language/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<option value="" selected>{follow}</option>' in page.replace("&#x27;", "'")
    visitor = client.__class__().get("/billing/language/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "e-mails and text messages" not in visitor  # before sign-in nothing is sent: the plain choice
    assert "短信" not in visitor.split('id="id_language"')[1].split("</select>")[0]


def test_sign_in_keeps_the_browsers_time_zone_only_when_the_user_has_none(client):
    user = UserFactory(username="tz-new")
    response = client.post("/login/", {"username": "tz-new", "password": PASSWORD, "time_zone": "Asia/Shanghai"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "Asia/Shanghai"
    client.logout()
    client.post("/login/", {"username": "tz-new", "password": PASSWORD, "time_zone": "Europe/Berlin"})
    user.refresh_from_db()
    assert user.time_zone == "Asia/Shanghai"  # a zone already chosen is never replaced


@pytest.mark.parametrize("offered", ["", "Mars/Olympus", "../../etc/passwd", "Asia/Shanghai\n", "x" * 200])
def test_sign_in_ignores_a_time_zone_that_is_not_one(client, offered):
    user = UserFactory(username="tz-bad")
    response = client.post("/login/", {"username": "tz-bad", "password": PASSWORD, "time_zone": offered})
    assert response.status_code == 302  # signed in all the same
    user.refresh_from_db()
    assert user.time_zone == ("Asia/Shanghai" if offered == "Asia/Shanghai\n" else "")


def test_the_sign_in_page_asks_the_browser_for_its_time_zone_with_a_static_script(client):
    page = client.get("/login/").content.decode()
    assert 'name="time_zone"' in page and "data-browser-time-zone" in page
    assert "/static/js/time-zone.js" in page


def test_dates_are_shown_in_the_users_time_zone_and_stored_in_utc(client):
    user = UserFactory(time_zone="Asia/Shanghai")
    with time_machine.travel(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), tick=False):
        entry = post_ledger_entry(
            account_id=user.account_id, amount=Money("10.00", "USD"), kind="adjustment", source_ref="tz:1"
        )
    client.force_login(user)
    shanghai = client.get("/billing/statement/").content.decode()
    assert "2026-12-02 07:30" in shanghai  # 23:30 UTC is 07:30 the next morning in Shanghai
    User.objects.filter(pk=user.pk).update(time_zone="America/New_York")
    new_york = client.get("/billing/statement/").content.decode()
    assert "2026-12-01 18:30" in new_york and "2026-12-02" not in new_york
    assert LedgerEntry.objects.get(pk=entry.pk).created_at == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)


def test_a_time_zone_is_named_by_its_offset_never_an_abbreviation_two_zones_share(client):
    """Shanghai's abbreviation, CST, is also the US Central time's: a Shanghai reader's headings and
    times read 'UTC+08:00' (and New York's 'UTC-05:00' in winter); UTC stays 'UTC'."""
    user = UserFactory(time_zone="Asia/Shanghai")
    post_ledger_entry(account_id=user.account_id, amount=Money("10.00", "USD"), kind="adjustment", source_ref="tz:2")
    topup = PendingTopUpFactory(account=user.account)
    client.force_login(user)
    statement = client.get("/billing/statement/").content.decode()
    detail = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert "Date (UTC+08:00)" in statement and "CST" not in statement
    assert f"{topup.created_at.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M} UTC+08:00" in detail
    assert "CST" not in detail
    User.objects.filter(pk=user.pk).update(time_zone="America/New_York")
    with time_machine.travel(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), tick=False):
        assert "Date (UTC-05:00)" in client.get("/billing/statement/").content.decode()
    User.objects.filter(pk=user.pk).update(time_zone="UTC")
    assert "Date (UTC)" in client.get("/billing/statement/").content.decode()


def test_javascript_messages_come_in_the_page_language(client):
    chinese = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "\\u5df2\\u590d\\u5236" in chinese or "已复制" in chinese  # "Copied"
    page = client.get("/login/").content.decode()
    assert 'src="/jsi18n/"' in page


def test_error_pages_speak_the_readers_language(client):
    page = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 404 and "找不到该页面" in page.content.decode()
    api = client.get("/api/v2/nothing-here", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert api.json()["error"]["code"] == "not_found"  # the code stays, the message is localised
    assert api.json()["error"]["message"] == "不存在该 API 接口。"


def test_messages_follow_the_language_the_browser_asked_for_at_sign_in(client, stripe_settings):
    """A reader of Chinese pages who never opened the language page had every e-mail in English: with no browser
    to follow, messages went in the site's language. Sign-in keeps the language the browser asks for (the switch's
    cookie, else Accept-Language); messages go in it while the profile follows the browser, and the choice says so."""
    from accounts.models import OutboundEmail
    from tests.fakes.stripe import event, paid_session, post_webhook, signed
    from tests.intake import apply_stored

    alice = UserFactory(username="alice-zh", email="alice@example.com")
    signed_in = client.post("/login/", {"username": "alice-zh", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert signed_in.status_code == 302
    alice.refresh_from_db()
    assert (alice.language, alice.browser_language) == ("", "zh-hans")
    page = client.get("/billing/language/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<option value="" selected>跟随浏览器语言（电子邮件和短信使用简体中文）</option>' in page

    topup = PendingTopUpFactory(account=alice.account, created_by=alice, amount=Money("25.00", "USD"))
    assert post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup)))).status_code == 200
    apply_stored()
    assert OutboundEmail.objects.get().subject.startswith("充值 ")

    client.logout()
    client.post("/login/", {"username": "alice-zh", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    alice.refresh_from_db()
    assert alice.browser_language == "en"  # the latest sign-in's


def test_an_account_s_messages_go_in_a_language_a_user_chose_before_a_browser_s():
    from accounts.notifications import language_of

    first = UserFactory(browser_language="en")
    assert language_of(first.account) == "en"
    UserFactory(account=first.account, language="zh-hans")
    assert language_of(first.account) == "zh-hans"  # chosen wins over a browser's
    assert language_of(UserFactory()) == "" and language_of(UserFactory().account) == ""


def test_finance_signing_in_to_admin_is_asked_its_language_too(client):
    """Finance signs in at /admin/login/ (with a one-time code), not the customers' page: its browser's language had
    not been kept, and a clerk reading admin in Chinese had deadline mails in English (found by a helper)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.notifications import language_of
    from tests.helpers import current_otp

    clerk = UserFactory(username="fiona-zh", account=None, is_staff=True)
    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    form = {"username": "fiona-zh", "password": PASSWORD, "otp_token": current_otp(device)}
    signed_in = client.post("/admin/login/?next=/admin/", form, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    clerk.refresh_from_db()
    assert (clerk.browser_language, language_of(clerk)) == ("zh-hans", "zh-hans")
    signed_out = client.post("/logout/", HTTP_ACCEPT_LANGUAGE="zh-CN", follow=True).content.decode()
    assert "您已退出计费中心。" in signed_out


def test_a_sign_in_whose_browser_asks_for_no_language_keeps_what_was_known(client):
    """No Accept-Language and no cookie (a script): the site's default had been stored as the browser's, frozen."""
    user = UserFactory(username="quiet", browser_language="zh-hans")
    assert client.post("/login/", {"username": "quiet", "password": PASSWORD}).status_code == 302
    user.refresh_from_db()
    assert user.browser_language == "zh-hans"
