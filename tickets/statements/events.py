"""The webhook event of a statement line (statement_line.matched): the account's systems hear
that a transfer arrived and was matched to it — credited at once, or waiting for finance."""

from accounts.outbound_webhooks.events import NewEvent, emit_many, listening, money


def lines_matched(lines, *, now) -> None:
    heard = listening("statement_line.matched", {line.account_id for line in lines})
    emit_many(
        [
            NewEvent(
                "statement_line.matched",
                line.account_id,
                {
                    "line_id": line.pk,
                    "bank_reference": line.bank_reference,
                    "booking_date": line.booking_date.isoformat(),
                    "amount": money(line.money),
                    "matched_by": str(line.rule),
                    "state": str(line.state),
                },
            )
            for line in lines
            if line.account_id in heard
        ],
        now=now,
    )
