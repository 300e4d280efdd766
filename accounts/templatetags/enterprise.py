"""The Overview's enterprise card (templates/accounts/_enterprise_funds.html): a member's funds,
or how many members of a master the budget sweep found over budget this month."""

from django import template

from ..enterprise import member_funds
from ..models import Account

register = template.Library()


@register.simple_tag
def enterprise_funds(account: Account) -> dict:
    """{"member": MemberFunds} for a member (one query), {"over_budget": n} for a master whose
    members are over their budget (no query: the account's own query counted them), else {}."""
    if account.type == Account.Type.ENTERPRISE_MEMBER:
        return {"member": member_funds(account)}
    return {"over_budget": getattr(account, "members_over_budget", 0)}
