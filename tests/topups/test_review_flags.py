"""Finance clears a needs-review flag once it has read why (billing_center.review_flags): a top-up
flagged by a disputed card payment, a refund made in the gateway's dashboard, an account. What a
clerk did not see (a note added after the confirmation page opened) stays flagged; a clerk
without the permission is not offered the action and a forged one changes nothing."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from djmoney.money import Money

from accounts.lifecycle import flag_for_review
from accounts.models import Account
from billing_center.review_flags import fingerprint, mark_reviewed
from tests.factories import PendingTopUpFactory, PostpaidAccountFactory, UserFactory
from tests.fakes.stripe import dispute_object, event, paid_session, refund_object
from tests.helpers import staff_login
from tests.topups.test_refunds_and_disputes import PI, deliver
from topups.models import Refund, TopUp

pytestmark = pytest.mark.django_db
TOPUPS = "/admin/topups/topup/"
REFUNDS = "/admin/topups/refund/"
POSTPAID = "/admin/bills/postpaidaccount/"
ACCOUNTS = "/admin/accounts/account/"


def ask(client, changelist, pks, **fields):
    """The changelist's action form, as finance submits it."""
    data = {"action": "mark_reviewed", "_selected_action": [str(pk) for pk in pks], **fields}
    return client.post(changelist, data)


def seen_fields(page: str) -> dict[str, str]:
    """The confirmation page's fingerprints, sent back as they were shown."""
    return dict(re.findall(r'name="(seen-\d+)" value="([0-9a-f]+)"', page))


def review(client, changelist, pks):
    """Open the confirmation, then confirm what it showed; the page and the answer."""
    page = ask(client, changelist, pks)
    assert page.status_code == 200, page.content[:300]
    answer = ask(client, changelist, pks, post="yes", **seen_fields(page.content.decode()))
    return page.content.decode(), answer


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def todo_count(client, key: str) -> int:
    page = client.get("/admin/").content.decode()
    return int(re.search(rf'data-testid="todo-{key}"><span class="count">(\d+)<', page).group(1))


@pytest.fixture
def disputed(client, stripe_settings):
    """A credited card top-up whose payment the customer disputed: Stripe's events flag it."""
    topup = PendingTopUpFactory(amount=Money("100.00", "USD"))
    assert deliver(client, event("checkout.session.completed", paid_session(topup, payment_intent=PI))) == "credited"
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=4000, id="du_first")))
    topup.refresh_from_db()
    assert topup.needs_review and "du_first" in topup.review_note
    return topup


def test_a_clerk_reads_the_note_then_clears_the_flag_and_history_names_the_clerk(client, clerk, disputed):
    staff_login(client, clerk)
    assert todo_count(client, "flagged-topups") == 1
    page, answer = review(client, TOPUPS, [disputed.pk])

    assert "du_first" in page and 'data-testid="flagged-record"' in page  # the note, to read first
    assert answer.status_code == 302
    assert messages_of(answer) == [f"Marked as reviewed: {disputed.reference}."]
    disputed.refresh_from_db()
    assert not disputed.needs_review
    first, last = disputed.review_note.splitlines()
    assert "du_first" in first and last.endswith(" reviewed by fiona.")
    assert disputed.history.latest().history_user == clerk
    assert todo_count(client, "flagged-topups") == 0

    # A second dispute later flags it again, and the new line sits under the old ones.
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=2500, id="du_second")))
    disputed.refresh_from_db()
    assert disputed.needs_review and disputed.review_note.splitlines()[-1].endswith("du_second opened (25.00 USD).")
    assert todo_count(client, "flagged-topups") == 1
    # The page shows what is new since the last review first; the rest folded away, marked as reviewed.
    page = ask(client, TOPUPS, [disputed.pk]).content.decode()
    fresh = re.search(r'data-testid="new-note">([^<]*)</pre>', page).group(1)
    assert "du_second" in fresh and "du_first" not in fresh and "reviewed by" not in fresh
    earlier = page.split("Earlier notes, already reviewed", 1)[1]
    assert "du_first" in earlier and "reviewed by fiona." in earlier


def test_news_that_arrives_while_the_page_is_open_stays_flagged(client, clerk, disputed, stripe_settings):
    calm = PendingTopUpFactory(account=disputed.account, needs_review=True, review_note="2026-12-01 09:00 looked odd")
    staff_login(client, clerk)
    page = ask(client, TOPUPS, [disputed.pk, calm.pk])
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=2500, id="du_second")))

    answer = ask(client, TOPUPS, [disputed.pk, calm.pk], post="yes", **seen_fields(page.content.decode()))

    assert messages_of(answer) == [
        f"Marked as reviewed: {calm.reference}.",
        f"Still flagged: {disputed.reference}. The note is not the one you read; read it again.",
    ]
    disputed.refresh_from_db()
    assert disputed.needs_review and "du_second" in disputed.review_note and "reviewed by" not in disputed.review_note
    assert not TopUp.objects.get(pk=calm.pk).needs_review


def test_a_dashboard_refund_is_flagged_with_why_and_cleared_once(client, clerk, disputed):
    deliver(client, event("refund.created", refund_object(payment_intent=PI, amount=1000)))
    refund = Refund.objects.get()
    assert refund.needs_review and "dashboard" in refund.review_note
    staff_login(client, clerk)
    assert todo_count(client, "flagged-refunds") == 1
    page, answer = review(client, REFUNDS, [refund.pk])
    assert "dashboard" in page and answer.status_code == 302
    assert f"{refund.reference}</strong> · {disputed.account.name}" in page  # whose refund it is
    assert todo_count(client, "flagged-refunds") == 0
    refund.refresh_from_db()
    assert not refund.needs_review and refund.review_note.endswith("reviewed by fiona.")

    again = ask(client, REFUNDS, [refund.pk])  # nothing flagged any more: no page, a message
    assert again.status_code == 302
    assert messages_of(again)[-1] == "None of the selected is flagged for review."


def test_an_accounts_flag_clears_from_the_postpaid_list_and_a_later_note_starts_a_new_line(client, clerk):
    account = PostpaidAccountFactory()
    flag_for_review(account_id=account.pk, note="Usage past the credit limit of 500.00 USD.")
    staff_login(client, clerk)
    assert todo_count(client, "flagged-accounts") == 1
    _, answer = review(client, POSTPAID, [account.pk])
    assert answer.status_code == 302
    assert todo_count(client, "flagged-accounts") == 0
    # History: the flag as found (set in SQL, by no person), then the clerk's clearing; a proxy's
    # list (postpaid accounts) records on the account itself.
    cleared, found = Account.history.filter(id=account.pk).order_by("-history_date", "-history_id")[:2]
    assert (found.needs_review, found.history_user, "credit limit" in found.review_note) == (True, None, True)
    assert (cleared.needs_review, cleared.history_user) == (False, clerk)
    assert [change.field for change in cleared.diff_against(found).changes] == ["needs_review", "review_note"]
    flag_for_review(account_id=account.pk, note="Card payment of TU-1 disputed.")
    lines = Account.objects.get(pk=account.pk).review_note.splitlines()
    assert [line.split(" ", 3)[3] for line in lines] == [  # after the day, the hour and the offset
        "Usage past the credit limit of 500.00 USD.",
        "reviewed by fiona.",
        "Card payment of TU-1 disputed.",
    ]


@pytest.mark.parametrize(
    ("zone", "flagged", "cleared"),
    [
        ("Asia/Shanghai", "2026-12-05 00:33 +08:00 Disputed.", "2026-12-05 09:05 +08:00 reviewed by fiona."),
        ("America/Santiago", "2026-12-04 13:33 -03:00 Disputed.", "2026-12-04 22:05 -03:00 reviewed by fiona."),
    ],
)
def test_each_line_of_a_note_says_its_moment_in_finances_time_with_the_offset(clerk, settings, zone, flagged, cleared):
    """The note is stored text that clerks read in any time zone: each line carries finance's hour and its offset
    from UTC (it had been UTC's hour, unmarked, and a clerk in Shanghai read 16:33 for half past midnight)."""
    settings.FINANCE_TIME_ZONE = zone
    account = PostpaidAccountFactory()
    flag_for_review(account_id=account.pk, note="Disputed.", now=datetime(2026, 12, 4, 16, 33, tzinfo=UTC))
    note = Account.objects.get(pk=account.pk).review_note
    later = datetime(2026, 12, 5, 1, 5, tzinfo=UTC)
    mark_reviewed(Account, seen={account.pk: fingerprint(note)}, actor=clerk, now=later)
    assert Account.objects.get(pk=account.pk).review_note.splitlines() == [flagged, cleared]


def test_the_account_page_shows_the_flag_but_no_longer_takes_it_from_a_checkbox(client, clerk):
    account = PostpaidAccountFactory(needs_review=True, review_note="2026-12-01 09:00 Disputed.\n")
    admin = UserFactory(username="root", account=None, is_staff=True, is_superuser=True)
    staff_login(client, admin)
    page = client.get(f"{ACCOUNTS}{account.pk}/change/").content.decode()
    assert 'name="needs_review"' not in page and "Disputed." in page
    client.post(f"{ACCOUNTS}{account.pk}/change/", {"name": "Renamed", "needs_review": ""})
    account.refresh_from_db()
    assert account.name == "Renamed" and account.needs_review


def test_a_clerk_without_the_permission_is_not_offered_the_action_and_a_forged_one_changes_nothing(
    client, clerk, finance_group, disputed
):
    finance_group.permissions.remove(Permission.objects.get(codename="review_topup"))
    staff_login(client, type(clerk).objects.get(pk=clerk.pk))
    listing = client.get(TOPUPS).content.decode()
    assert disputed.reference in listing and 'value="mark_reviewed"' not in listing
    forged = ask(client, TOPUPS, [disputed.pk], post="yes", **{f"seen-{disputed.pk}": "0" * 16})
    assert forged.status_code in (200, 302)
    assert TopUp.objects.get(pk=disputed.pk).needs_review


@pytest.mark.parametrize(
    "fields",
    [
        {"seen-{pk}": "not-a-fingerprint"},  # a mangled fingerprint: not what the clerk saw
        {},  # none at all: the confirmation page was skipped
        {"seen-{pk}": "x" * 5000},
    ],
)
def test_a_confirmation_without_the_fingerprint_it_showed_clears_nothing(client, clerk, disputed, fields):
    staff_login(client, clerk)
    sent = {name.format(pk=disputed.pk): value for name, value in fields.items()}
    answer = ask(client, TOPUPS, [disputed.pk], post="yes", **sent)
    assert answer.status_code == 302
    assert TopUp.objects.get(pk=disputed.pk).needs_review
    assert len(messages_of(answer)) == 1


def test_a_forged_selection_is_refused_with_a_message(client, clerk, disputed):
    staff_login(client, clerk)
    answer = client.post(TOPUPS, {"action": "mark_reviewed", "_selected_action": ["1 OR 1=1"], "post": "yes"})
    assert answer.status_code == 302
    assert messages_of(answer) == ["The selection was not understood; nothing was changed."]
    assert TopUp.objects.get(pk=disputed.pk).needs_review


def test_the_confirmation_and_its_messages_read_in_chinese(client, clerk, disputed):
    staff_login(client, clerk)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    listing = client.get(TOPUPS).content.decode()
    assert "将所选记录标记为已审核…" in listing
    page = ask(client, TOPUPS, [disputed.pk]).content.decode()
    assert "标记为已审核：确定吗？" in page and "清除标记前请先阅读每条备注" in page
    answer = ask(client, TOPUPS, [disputed.pk], post="yes", **seen_fields(page))
    assert messages_of(answer) == [f"已标记为已审核：{disputed.reference}。"]


def test_the_accounts_history_reads_in_chinese_with_the_flag_in_words(client, clerk):
    account = PostpaidAccountFactory()
    flag_for_review(account_id=account.pk, note="Card payment of TU-1 disputed.")
    staff_login(client, clerk)
    review(client, POSTPAID, [account.pk])
    page = client.get(f"{ACCOUNTS}{account.pk}/history/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已创建" in page and "创建时间" not in page  # simple-history's "Created", not a date's label
    assert "True" not in page and "False" not in page
    assert re.search(r"需要审核:</strong>\s*否\s*&nbsp;&rarr;&nbsp;&nbsp;是", page)  # found flagged
    assert re.search(r"需要审核:</strong>\s*是\s*&nbsp;&rarr;&nbsp;&nbsp;否", page)  # cleared by the clerk


def test_a_record_the_list_does_not_hold_is_named_as_not_flagged(client, clerk):
    prepaid = UserFactory().account  # not on the postpaid list, whatever its flag
    flag_for_review(account_id=prepaid.pk, note="Card payment of TU-1 disputed.")
    staff_login(client, clerk)
    answer = ask(client, POSTPAID, [prepaid.pk], post="yes", **{f"seen-{prepaid.pk}": "0" * 16})
    assert answer.status_code == 302
    assert messages_of(answer)[-1] == "None of the selected records is on this list any more; nothing was changed."
    assert Account.objects.get(pk=prepaid.pk).needs_review


def test_the_confirmation_reads_each_records_account_without_a_query_apiece(client, clerk):
    """Refunds of five accounts' top-ups: as many queries as for one (the list's select_related)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    refunds = [
        Refund.objects.create(
            topup=PendingTopUpFactory(),  # the row alone: what the page reads
            amount=Money("5.00", "USD"),
            debit_amount=Money("5.00", "USD"),
            needs_review=True,
            review_note=f"2026-12-01 09:00 odd {n}",
        )
        for n in range(5)
    ]
    staff_login(client, clerk)
    ask(client, REFUNDS, [refunds[0].pk])  # the session's first request reads more (its user, the device)
    counts = []
    for chosen in (refunds[:1], refunds):
        with CaptureQueriesContext(connection) as queries:
            page = ask(client, REFUNDS, [refund.pk for refund in chosen]).content.decode()
        assert all(refund.topup.account.name in page for refund in chosen)
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_finances_top_up_list_shows_credited_only_what_reached_a_balance(client, clerk, disputed):
    """Beside Cancelled, Failed and Awaiting payment, the Credited column is empty (it had shown what each would
    have credited, which read as money credited)."""
    for status in ("cancelled", "failed", "pending"):
        PendingTopUpFactory(account=disputed.account, status=status, amount=Money("70.00", "USD"))
    staff_login(client, clerk)
    page = client.get(TOPUPS).content.decode()
    cells = re.findall(r'<td class="field-credited[^"]*">([^<]*)</td>', page)
    assert sorted(cells) == ["-", "-", "-", str(disputed.credit_amount)], cells


def test_a_chinese_clerk_reads_why_in_chinese_and_the_stored_note_stays_english(client, clerk, disputed):
    """The notes our code writes had been English for every clerk ("dispute du_first opened (40.00 USD).")."""
    clerk.language = "zh-hans"
    clerk.save(update_fields=["language"])
    staff_login(client, clerk)
    record = client.get(f"{TOPUPS}{disputed.pk}/change/").content.decode()
    assert "争议 du_first 已发起（US$40.00）。" in record  # money as zh-hans writes it
    account = client.get(f"{ACCOUNTS}{disputed.account_id}/change/").content.decode()
    assert f"{disputed.reference} 的银行卡付款被提出争议。" in account

    page, answer = review(client, TOPUPS, [disputed.pk])
    assert "争议 du_first 已发起" in page and answer.status_code == 302
    disputed.refresh_from_db()
    assert disputed.review_note.endswith("reviewed by fiona.")
    assert "du_first opened (40.00 USD)." in disputed.review_note
    page = client.get(f"{TOPUPS}{disputed.pk}/change/").content.decode()
    assert "已由 fiona 审核。" in page
    # Flagged again: the page shows the new line first, the reviewed ones folded away, both in Chinese.
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=2500, id="du_second")))
    page = ask(client, TOPUPS, [disputed.pk]).content.decode()
    fresh = re.search(r'data-testid="new-note">([^<]*)</pre>', page).group(1)
    assert "争议 du_second 已发起（US$25.00）。" in fresh and "du_first" not in fresh


def test_a_note_written_before_lines_had_parts_reads_as_stored_and_goes_on_in_plain_text(client, clerk):
    account = PostpaidAccountFactory(needs_review=True, review_note="2026-11-01 09:00 +08:00 Looked odd.\n")
    flag_for_review(account_id=account.pk, note="Card payment of TU-1 disputed.", now=datetime(2026, 12, 1, tzinfo=UTC))
    account.refresh_from_db()
    assert account.review_note_parts is None and account.shown_review_note.splitlines() == [
        "2026-11-01 09:00 +08:00 Looked odd.",
        "2026-12-01 08:00 +08:00 Card payment of TU-1 disputed.",
    ]
