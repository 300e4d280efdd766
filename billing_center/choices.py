"""A choice's label in the reader's language, looked up once per language.

`Model.get_FOO_display()` builds the field's whole choice dict and translates the label on every
call (tens of microseconds): a page of rows pays it per row and column. The labels of a field
do not change while the process runs, so each language's are read once.
"""

from functools import lru_cache

from django.utils import translation


@lru_cache(maxsize=256)
def _labels(model, field: str, language: str | None) -> dict:
    with translation.override(language):
        return {value: str(label) for value, label in model._meta.get_field(field).flatchoices}


def choice_label(instance, field: str) -> str:
    """What get_<field>_display() says, in the active language."""
    value = getattr(instance, field)
    return _labels(type(instance)._meta.concrete_model, field, translation.get_language()).get(value, value)
