"""The webhook events the ledger raises as money moves (accounts.ledger calls these)."""

from .events import NewEvent, emit_many, listening, money

CREDIT_KINDS = {"online_topup", "bank_transfer", "repayment", "dispute_won"}


def credited(entries) -> None:
    """topup.credited for each money-in entry just posted (an online top-up, a bank transfer, a
    repayment, a dispute won back)."""
    money_in = [entry for entry in entries if str(entry.kind) in CREDIT_KINDS]
    heard = listening("topup.credited", {entry.account_id for entry in money_in}) if money_in else set()
    emit_many(
        [
            NewEvent(
                "topup.credited",
                entry.account_id,
                {
                    "entry_id": entry.pk,
                    "kind": str(entry.kind),
                    "amount": money(entry.amount),
                    "balance_after": money(entry.balance_after),
                    "source": entry.source_ref,
                    "description": entry.description,
                },
            )
            for entry in money_in
            if entry.account_id in heard
        ]
    )


def recovered(account_id: int, balance, threshold) -> None:
    """balance.recovered: the balance is back at or above the alert threshold after an alert."""
    emit_many([NewEvent("balance.recovered", account_id, {"balance": money(balance), "threshold": money(threshold)})])
