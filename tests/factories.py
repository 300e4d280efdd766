import uuid

import factory
from djmoney.money import Money

from accounts.models import Account, User
from topups.models import TopUp


class PrepaidAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Customer {n}")
    type = Account.Type.PREPAID
    balance = Money(0, "USD")


class PostpaidAccountFactory(PrepaidAccountFactory):
    type = Account.Type.POSTPAID


class EnterpriseMemberAccountFactory(PrepaidAccountFactory):
    type = Account.Type.ENTERPRISE_MEMBER
    enterprise_master = factory.SubFactory(PrepaidAccountFactory, name=factory.Sequence(lambda n: f"Enterprise {n}"))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    account = factory.SubFactory(PrepaidAccountFactory)
    password = factory.PostGenerationMethodCall("set_password", "secret-pass-123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PendingTopUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TopUp

    account = factory.SubFactory(PrepaidAccountFactory)
    created_by = factory.SubFactory(UserFactory, account=factory.SelfAttribute("..account"))
    gateway = "stripe"
    amount = Money("100.00", "USD")
    credit_amount = factory.SelfAttribute("amount")
    gateway_session_id = factory.LazyFunction(lambda: f"cs_test_{uuid.uuid4().hex}")
    checkout_url = factory.LazyAttribute(lambda o: f"https://checkout.stripe.com/c/pay/{o.gateway_session_id}")
