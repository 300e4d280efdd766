"""Finance's actions in Django admin's own audit trail: one LogEntry for each record an action changed, which the
admin home's Recent actions and the record's History page list, with who did it and when.

Each admin action and admin page of ours that changes data calls `log_done` once for each record it changed, once
the change went through. A refusal (a BillingError, a form's error) writes none, nor does a repeat that changed
nothing (a double click on a credited ticket, a second clerk there first). Django's own add and change pages log
as they always have.

The message is Django's JSON change message, which Django itself reads in the reader's language:
`[{"changed": {"fields": [...]}}]` names the fields of the record the action changed, by their verbose names in
English (Django translates each when the page is read), or `[{"added": {}}]`. Where field names alone would not say
what happened ("Changed status." for a credit of 1,000.00 USD), the element also carries `"said"`: a sentence as
its message and arguments (accounts.descriptions' parts, {"text": msgid, "args": {...}}), which our pages render
when they are read (the `change_said` filter: Recent actions and History), money in the reader's format.

Why not a finished sentence: an entry is written once and read by finance in English and in Chinese. Written in the
clerk's language it would read Chinese to an English reader, or English to a Chinese one; written in English it
would read English to everyone, as Django's own plain-text messages do. Kept as a message and its arguments it reads
in each reader's own language, as ledger descriptions and statement notes do. What a clerk typed (a reason, a note,
a message to the customer) is an argument, and reads as typed. Django's own readers, which do not know `said`, still
say which fields changed, in the reader's language.
"""

import json

from django.apps import apps
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import translation
from djmoney.models.fields import CurrencyField


def label(obj) -> str:
    """How a message names a record: its reference (TU-…, RF-…) if it has one, else its name."""
    return getattr(obj, "reference", None) or str(obj)


def log_done(request, obj, said=None, *, before=None, fields=(), added=False) -> LogEntry | None:
    """Log what the signed-in user's action did to `obj` (as it is now): `said`, a Description
    (accounts.descriptions.describe) saying what happened; `before`, `obj` as it was before the action, whose
    changed fields are named (and nothing is logged when none changed: a repeat), or `fields`, the names of those it
    changed; `added`, the action made `obj`."""
    element = {"added": {}} if added else {}
    names = changed_fields(before, obj) if before is not None else list(fields)
    if before is not None and not names:
        return None
    # In English, not the clerk's language, as Django stores its own: field names are translated when read, and the
    # record is named by its reference where it has one ("TU-…" reads alike in both languages).
    with translation.override(None):
        if names:
            element["changed"] = {"fields": [str(obj._meta.get_field(name).verbose_name) for name in names]}
        shown = label(obj)[:200]
    if parts := getattr(said, "parts", None):
        element["said"] = parts
    return LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=shown,
        action_flag=ADDITION if added else CHANGE,
        change_message=json.dumps([element]),
    )


def changed_fields(before, after) -> list[str]:
    """The names of the fields whose stored value differs: not a money field's currency column, nor the parts our
    notes keep beside their text, nor a time stamped on every save."""
    return [
        field.name
        for field in after._meta.concrete_fields
        if not isinstance(field, CurrencyField)
        and not field.name.endswith("_parts")
        and not getattr(field, "auto_now", False)
        and field.value_from_object(before) != field.value_from_object(after)
    ]


def said_parts(entry: LogEntry) -> dict | None:
    """The sentence an entry of ours carries (the module's doc), or None: Django's own, or another's."""
    try:
        message = json.loads(entry.change_message or "null")
    except ValueError:
        return None
    if not isinstance(message, list):
        return None
    return next((part["said"] for part in message if isinstance(part, dict) and "said" in part), None)


def logged_for(model, object_id: str):
    """A record's entries, oldest first, under its model and the proxies of the same table (a postpaid account's
    credit limit, set on the postpaid list, is on the account's History too)."""
    concrete = model._meta.concrete_model
    kinds = ContentType.objects.get_for_models(
        *[one for one in apps.get_models() if one._meta.concrete_model is concrete], for_concrete_models=False
    )
    return (
        LogEntry.objects.filter(content_type__in=kinds.values(), object_id=str(object_id))
        .select_related("user", "content_type")
        .order_by("action_time", "pk")
    )
