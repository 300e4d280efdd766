"""Admin's sign-in (password and the authenticator's code on one page) as a finance clerk meets it:
a wrong or reused code says what to do, in English and Chinese, with no device chooser for a clerk
with one authenticator and none of django-otp's English (it has no Chinese catalogue)."""

import re

import pytest
from django.contrib.staticfiles import finders
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory
from tests.helpers import current_otp

pytestmark = pytest.mark.django_db
PASSWORD = "secret-pass-123"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
DJANGO_OTPS_ENGLISH = ("OTP Token", "OTP Device", "Get OTP Challenge", "Invalid token", "Please enter your OTP token")


@pytest.fixture(autouse=True)
def no_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own setting: each wrong code answered at once


@pytest.fixture
def clerk():
    user = UserFactory(username="fiona", is_staff=True, account=None)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def sign_in(client, token, **headers):
    form = {"username": "fiona", "password": PASSWORD, "next": "/admin/", "otp_token": token}
    return client.post("/admin/login/", form, **headers)


ERRORS = re.compile(r'<(?:p class="errornote"[^>]*|ul class="errorlist"[^>]*)>(.*?)</(?:p|ul)>', re.S)


def errors(response) -> str:
    return " ".join(ERRORS.findall(response.content.decode()))


def test_the_page_asks_for_the_code_a_phone_can_fill_and_offers_no_challenge(client, clerk):
    page = client.get("/admin/login/").content.decode()
    assert "Code from your authenticator app:" in page
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    assert 'name="otp_device"' not in page and "otp_challenge" not in page


def test_a_reused_code_is_refused_with_what_to_do_and_no_device_chooser(client, clerk):
    device = TOTPDevice.objects.get(user=clerk)
    code = current_otp(device)
    assert sign_in(client, code).status_code == 302
    client.logout()

    again = sign_in(client, code)

    assert again.status_code == 200 and "_auth_user_id" not in client.session
    assert "each code works once, so after a sign-in wait for the next one" in errors(again)
    page = again.content.decode()
    assert 'name="otp_device"' not in page and "otp_challenge" not in page  # one authenticator: nothing to choose
    assert PASSWORD not in page  # django-otp would have written it back into the form


def test_in_chinese_the_page_and_its_messages_have_no_english_left(client, clerk):
    page = client.get("/admin/login/", **ZH).content.decode()
    assert '<html lang="zh-hans"' in page and "身份验证器应用中的验证码：" in page
    wrong = current_otp(TOTPDevice.objects.get(user=clerk))
    wrong = f"{(int(wrong) + 1) % 1_000_000:06d}"
    cases = {
        wrong: "验证码不是当前的",
        "": "请输入身份验证器应用中的验证码",
        "１２３４５６": "请用普通数字（0–9）输入身份验证器应用中的验证码",
    }
    for token, expected in cases.items():
        response = sign_in(client, token, **ZH)
        assert response.status_code == 200 and expected in errors(response), (token, errors(response))
        for english in DJANGO_OTPS_ENGLISH:
            assert english not in response.content.decode(), (token, english)


def test_a_clerk_with_two_authenticators_chooses_which_one_the_code_is_from(client, clerk):
    TOTPDevice.objects.create(user=clerk, name="backup phone", confirmed=True)
    response = sign_in(client, "123456")
    page = response.content.decode()
    assert 'name="otp_device"' in page and "Authenticator:" in page
    assert "Choose the authenticator the code is from." in errors(response)
    phone = TOTPDevice.objects.get(user=clerk, name="phone")
    form = {"username": "fiona", "password": PASSWORD, "next": "/admin/"}
    chosen = client.post("/admin/login/", form | {"otp_device": phone.persistent_id, "otp_token": current_otp(phone)})
    assert chosen.status_code == 302 and client.session["_auth_user_id"] == str(clerk.pk)


def test_a_staff_user_without_an_authenticator_is_told_who_can_enrol_one(client):
    UserFactory(username="fiona", is_staff=True, account=None)
    response = sign_in(client, "123456")
    assert response.status_code == 200 and "No authenticator is set up for this user" in errors(response)
    assert 'name="otp_device"' not in response.content.decode()


def test_the_chooser_tells_no_one_who_is_not_staff_that_their_password_was_right(client):
    customer = UserFactory(username="fiona", is_staff=False)
    for name in ("phone", "backup phone"):
        TOTPDevice.objects.create(user=customer, name=name, confirmed=True)
    right, wrong = sign_in(client, "123456"), client.post("/admin/login/", {"username": "fiona", "password": "nope"})
    for response in (right, wrong):
        assert response.status_code == 200 and 'name="otp_device"' not in response.content.decode()


INPUT = re.compile(r"<input\b[^>]*>")


def box(response, name: str) -> str:
    """The page's <input> named `name`, as sent."""
    return next(tag for tag in INPUT.findall(response.content.decode()) if f'name="{name}"' in tag)


def test_after_a_refused_code_the_code_box_is_empty_like_the_password_box(client, clerk):
    """A code that was wrong, or not in plain digits, is no use again: both boxes come back empty."""
    right = current_otp(TOTPDevice.objects.get(user=clerk))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for token, message in ((wrong, "That code is not the current one."), ("１２３４５６", "in plain digits (0–9)")):
        response = sign_in(client, token)
        assert response.status_code == 200
        assert message in errors(response)
        assert "value=" not in box(response, "otp_token"), box(response, "otp_token")
        assert "value=" not in box(response, "password"), box(response, "password")
        assert 'autocomplete="one-time-code"' in box(response, "otp_token")
        assert 'value="fiona"' in box(response, "username")  # the name stays: only secrets are emptied


SWITCH = re.compile(r'<form class="language-switch" method="post" action="([^"]+)".*?</form>', re.S)


def switch_language(client, page: str, **headers):
    """Press the switch the page shows, as a browser sends it (the form's action, its fields, its button)."""
    form = SWITCH.search(page)
    assert form, "the page has no language switch"
    fields = dict(re.findall(r'<input type="hidden" name="(next)" value="([^"]*)">', form.group()))
    fields.update(re.findall(r'<button class="linkbutton" name="(language)" value="([^"]+)"', form.group()))
    return client.post(form.group(1), fields, **headers)


def test_a_visitor_switches_the_sign_in_page_to_chinese_and_back_whatever_the_browser_says(client, clerk):
    """The header's switch, as on the customer pages: the choice is kept in a cookie before sign-in and
    outranks the browser's Accept-Language."""
    page = client.get("/admin/login/").content.decode()
    assert '<html lang="en"' in page
    switched = switch_language(client, page)
    assert switched.status_code == 302 and switched["Location"] == "/admin/login/?next=/admin/"  # admin's default
    page = client.get("/admin/login/").content.decode()
    assert '<html lang="zh-hans"' in page
    assert "身份验证器应用中的验证码：" in page
    refused = sign_in(client, "000000")  # still Chinese after a refused sign-in
    assert '<html lang="zh-hans"' in refused.content.decode()

    chinese_browser = client.get("/admin/login/", **ZH).content.decode()
    switch_language(client, chinese_browser, **ZH)
    page = client.get("/admin/login/", **ZH).content.decode()
    assert '<html lang="en"' in page
    assert "Code from your authenticator app:" in page


@pytest.mark.parametrize("page", ["/admin/login/", "/login/"])
def test_switching_language_on_a_sign_in_page_keeps_where_the_sign_in_leads(client, page):
    """A clerk sent to sign in on the way to a ticket, who switches language first, still lands on the ticket;
    a destination off this site is not carried along (the sign-in view drops it)."""
    target = "/admin/tickets/transferticket/?status=pending"
    switched = switch_language(client, client.get(page, {"next": target}).content.decode())
    assert switched.status_code == 302
    assert switched["Location"] == f"{page}?next=/admin/tickets/transferticket/%3Fstatus%3Dpending"
    assert client.get(switched["Location"]).context["next"] == target

    elsewhere = switch_language(client, client.get(page, {"next": "https://evil.example/"}).content.decode())
    assert elsewhere.status_code == 302 and "evil" not in elsewhere["Location"]


def test_admin_pages_carry_the_sites_icon(client, clerk):
    """Admin's tabs show the product's icon, as the customer pages do; browsers had asked for a
    /favicon.ico that is not there on every admin page."""
    page = client.get("/admin/login/").content.decode()
    icon = re.search(r'<link rel="icon" href="/static/([^"]+)" type="image/svg\+xml">', page)
    assert icon, "no icon on admin's sign-in page"
    assert finders.find(icon.group(1))
