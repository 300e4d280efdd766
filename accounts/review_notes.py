"""Why our code flagged a record for finance, and how its note reads: the messages of the lines
billing_center.review_flags writes on accounts, top-ups and refunds, and `ReadsReviewNote`, which
shows a note in the reader's language (each line's parts through accounts.descriptions)."""

from django.utils.translation import gettext_noop

from billing_center import review_flags

from .descriptions import entry_description, known_messages

# An account.
OVER_CREDIT_LIMIT = gettext_noop("Usage took what the account owes to %(owed)s, past its credit limit of %(limit)s.")
LIMIT_BELOW_OWED = gettext_noop("Credit limit set to %(limit)s, below the %(owed)s the account owes.")
PAYMENT_DISPUTED = gettext_noop("Card payment of %(reference)s disputed.")
TRANSFER_CREDITED_ELSEWHERE = gettext_noop(
    "Our bank statement's line %(reference)s of %(amount)s names this account, but that transfer was credited to "
    "%(account)s before; nothing was credited here. Check with both customers."
)
# A top-up: a gateway's notice that does not fit it, a dispute, a late credit.
NOTICE_PROBLEM = gettext_noop("%(event)s %(id)s: %(problem)s")
AMOUNT_DIFFERS = gettext_noop("amount %(paid)s differs from the expected %(expected)s")
ACCOUNT_DIFFERS = gettext_noop("account %(account)s differs from the owner %(owner)s")
SESSION_DIFFERS = gettext_noop("session %(session)s differs from %(expected)s")
AND_ALSO = gettext_noop("%(first)s; %(then)s")
PAID_TO_MEMBER = gettext_noop(
    "the account is now an enterprise member of %(master)s, which takes no top-ups: not credited; refund the payment "
    "in the gateway's dashboard"
)
DISPUTE_OPENED = gettext_noop("dispute %(dispute)s opened (%(amount)s).")
CREDITED_AFTER = {
    "failed": gettext_noop("Credited after being failed at %(when)s."),
    "cancelled": gettext_noop("Credited after being cancelled at %(when)s."),
    "expired": gettext_noop("Credited after being expired at %(when)s."),
}
# A refund.
REFUND_IN_DASHBOARD = gettext_noop("made in the %(gateway)s dashboard, not by finance.")
REFUND_AMOUNT_DIFFERS = gettext_noop("The gateway reports %(reported)s, we asked for %(asked)s.")
FAILED_AFTER_SUCCESS = gettext_noop("reported failed after it succeeded: %(detail)s")  # the gateway's words
REFUND_AFTER_CHARGEBACK = gettext_noop(
    "the card's bank had taken %(taken)s of this payment back before: %(debit)s came off the balance; the rest "
    "comes off what a won dispute returns"
)

known_messages(
    review_flags.REVIEWED, OVER_CREDIT_LIMIT, LIMIT_BELOW_OWED, PAYMENT_DISPUTED, TRANSFER_CREDITED_ELSEWHERE,
    NOTICE_PROBLEM, AMOUNT_DIFFERS, ACCOUNT_DIFFERS, SESSION_DIFFERS, AND_ALSO, PAID_TO_MEMBER, DISPUTE_OPENED,
    *CREDITED_AFTER.values(), REFUND_IN_DASHBOARD, REFUND_AMOUNT_DIFFERS, FAILED_AFTER_SUCCESS, REFUND_AFTER_CHARGEBACK,
)  # fmt: skip


class ReadsReviewNote:
    """For a model with `review_note` and `review_note_parts`: its note in the active language."""

    @property
    def shown_review_note(self) -> str:
        return review_flags.shown(self.review_note, self.review_note_parts, entry_description)

    def review_note_since_last_review(self) -> tuple[str, str]:
        return review_flags.since_last_review(self.review_note, self.review_note_parts, entry_description)
