"""The catalogues are complete: every message the code marks is translated into Simplified
Chinese in its area's catalogue, none fuzzy, every placeholder kept; and they compile without
GNU gettext."""

import re

from django.utils import translation

from billing_center import catalogues

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdf]|\{(\w*)\}")


def test_every_marked_message_is_translated_in_its_areas_catalogue():
    missing = catalogues.untranslated()
    assert not missing, f"{len(missing)} message(s) untranslated or fuzzy:\n" + "\n".join(missing[:50])


def all_messages():
    for path in sorted(catalogues.base_dir().glob(f"locale/*/{catalogues.LANGUAGE}/LC_MESSAGES/*.po")):
        for message in catalogues.read(path):
            if message.id:
                yield path.relative_to(catalogues.base_dir()), message


def test_no_entry_is_fuzzy_or_empty_and_every_placeholder_is_kept():
    problems = []
    for path, message in all_messages():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = {name for match in PLACEHOLDER.findall(ids[-1]) for name in match if name}
        if message.fuzzy or not all(strings):
            problems.append(f"{path}: {message.id!r} is {'fuzzy' if message.fuzzy else 'empty'}")
        for string in strings:
            kept = {name for match in PLACEHOLDER.findall(string) for name in match if name}
            if string and kept != wanted:
                problems.append(f"{path}: {message.id!r} has placeholders {sorted(kept)}, wants {sorted(wanted)}")
    assert not problems, "\n".join(problems[:50])


def test_the_catalogues_compile_with_babel_and_django_reads_them(tmp_path):
    catalogues.compile_all()
    entries = list(all_messages())
    assert entries, "no catalogue has entries: the product would show only English"
    _, message = next((p, m) for p, m in entries if isinstance(m.id, str) and not m.context)
    with translation.override("zh-hans"):
        assert translation.gettext(message.id) == message.string


def test_a_message_two_areas_translate_differently_carries_a_context():
    """Django takes the first catalogue in LOCALE_PATHS that has a message: two areas giving one
    English message two translations would show one area's words on the other's page."""
    seen, clashes = {}, []
    for path, message in all_messages():
        key = (message.id, message.context)
        if key in seen and seen[key][1] != message.string:
            clashes.append(f"{message.id!r}: {seen[key][0]} {seen[key][1]!r} ≠ {path} {message.string!r}")
        seen.setdefault(key, (path, message.string))
    assert not clashes, "give these a context (pgettext / translate … context):\n" + "\n".join(clashes)
