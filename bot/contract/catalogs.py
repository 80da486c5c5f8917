"""Customer-facing texts as gettext catalogs: one per package that owns texts, domain and
language.

A package keeps its texts in `<package>/locales/<language>/LC_MESSAGES/<domain>.po`. The
message ids are dotted keys ('ack.subject', 'page.form_title'); English is the source that
every other language translates. The `.po` files are compiled to `.mo` files at build
(`make messages`, `make install`, before `make test`, the Dockerfile) and `translations`
reads the compiled ones. A text a language lacks comes in English; a key no catalog has is
a KeyError (a bug), never the key shown to a customer.

`python -m bot.contract.catalogs LOCALES DOMAIN` (`make messages`) gives every language's
`.po` file the English msgids, each with the English text beside it for the translator.
"""

from __future__ import annotations

import functools
import gettext
import re
import sys
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

from babel.messages.catalog import Catalog as Source
from babel.messages.pofile import read_po, write_po

FALLBACK = "en"
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Za-z0-9]+)*")  # a folder name, never a path


class Catalog(gettext.GNUTranslations):
    """One language's compiled texts of one domain; what it lacks, its fallback gives."""

    _catalog: dict[str | tuple[str, int], str]  # msgid -> text, filled by GNUTranslations

    @functools.cached_property
    def messages(self) -> Mapping[str, str]:
        """The texts translated in this language itself, by msgid."""
        return MappingProxyType(
            {
                msgid: text
                for msgid, text in self._catalog.items()
                if isinstance(msgid, str) and msgid
            }
        )


class _Unknown(gettext.NullTranslations):
    """The end of every fallback chain: a msgid that no catalog has."""

    def gettext(self, message: str) -> str:
        raise KeyError(message)


@functools.cache
def translations(package: str, domain: str, language: str) -> Catalog:
    """`language`'s texts of `domain` in `package`/locales/, English for what it lacks.

    A KeyError for a language without a catalog; callers pick a language they ship."""
    return load(resources.files(package) / "locales", domain, language)


def load(locales: Traversable, domain: str, language: str) -> Catalog:
    """As `translations`, from any locale folder and uncached."""
    own = _read_mo(locales, domain, language)
    own.add_fallback(_Unknown() if language == FALLBACK else load(locales, domain, FALLBACK))
    return own


def _read_mo(locales: Traversable, domain: str, language: str) -> Catalog:
    if not _LANGUAGE.fullmatch(language):
        raise KeyError(language)
    folder = locales / language / "LC_MESSAGES"
    compiled = folder / f"{domain}.mo"
    if not compiled.is_file():
        if (folder / f"{domain}.po").is_file():
            raise FileNotFoundError(f"{compiled} is missing: compile the catalogs (make messages)")
        raise KeyError(f"no {domain!r} catalog for language {language!r}")
    with compiled.open("rb") as source:
        return Catalog(source)


def update(locales: Path, domain: str) -> list[Path]:
    """Give every language's `.po` file the msgids of the English one, in its order.

    A new msgid comes untranslated (so it reads in English until it is translated), a
    removed one stays as an obsolete `#~` entry, and the English text is written beside
    each msgid as a comment. A language is a folder `locales/<language>/LC_MESSAGES/`: an
    empty one gets a catalog. Returns the files written."""
    template = Source(domain=domain)
    for message in _read_po(locales / FALLBACK / "LC_MESSAGES" / f"{domain}.po", FALLBACK):
        if message.id:
            english = message.string if isinstance(message.string, str) else ""
            template.add(message.id, auto_comments=[english.replace("\n", "\\n")])
    written: list[Path] = []
    for folder in sorted(path for path in locales.iterdir() if path.name != FALLBACK):
        target = folder / "LC_MESSAGES" / f"{domain}.po"
        if not target.parent.is_dir():
            continue
        catalog = (
            _read_po(target, folder.name) if target.is_file() else _new_source(folder.name, domain)
        )
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        with target.open("wb") as out:
            write_po(out, catalog)
        written.append(target)
    return written


def _new_source(language: str, domain: str) -> Source:
    """An empty `.po` catalog for `language`, with the header every one of ours has."""
    return Source(
        locale=language,
        domain=domain,
        project="intake-bot",
        version="0.1.0",
        header_comment=f"# The {domain} texts in {language}.",
        fuzzy=False,
    )


def _read_po(path: Path, language: str) -> Source:
    with path.open("rb") as source:
        catalog: Source = read_po(source, locale=language, domain=path.stem)
    return catalog


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m bot.contract.catalogs LOCALES DOMAIN")
    update(Path(sys.argv[1]), sys.argv[2])
