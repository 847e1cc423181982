"""Console text in two languages through gettext catalogs (docs/i18n.md).

The message ids are the zh-CN texts: zh-CN is the default language and needs no catalog (a
message's id is its text), and `locale/en/LC_MESSAGES/messages.mo` translates every id into English.
Templates write `{{ _("中文") }}` (or `{{ pgettext("context", "中文") }}` where one Chinese text has
two English renderings), Python writes `tr(request, "中文 %(name)s", name=...)` (console/pagekit.py).

Each language's catalog is loaded once per process and only read afterwards. Which language a page
is rendered in is the request's: `render` (console/web.py) sets it in a context variable for the
length of one render, so two concurrent requests in different languages never share a choice."""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("openability_console_lang", default=DEFAULT_LANG)


class MissingCatalog(RuntimeError):
    """A language's compiled catalog is not where the package keeps it."""


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


@cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The translations of one language: identity for zh-CN (the ids are the zh-CN texts)."""
    if lang == DEFAULT_LANG:
        return gettext.NullTranslations()
    path = mo_path(lang)
    try:
        with path.open("rb") as f:
            return gettext.GNUTranslations(f)
    except FileNotFoundError:
        raise MissingCatalog(
            f"openability: the {lang} console catalog {path} is missing; run `make i18n`"
        ) from None


def gettext_for(lang: str, message: str) -> str:
    return catalog(lang).gettext(message)


def pgettext_for(lang: str, context: str, message: str) -> str:
    return catalog(lang).pgettext(context, message)


def N_(message: str) -> str:
    """Marks a text for extraction where it is defined (a table of labels); translated where shown."""
    return message


# ---- the language of the render in progress ----------------------------------------------------


def current_lang() -> str:
    return _current.get()


@contextmanager
def rendering_in(lang: str) -> Iterator[None]:
    """The language of the templates rendered inside the block (this task/thread only)."""
    token = _current.set(lang if lang in LANGS else DEFAULT_LANG)
    try:
        yield
    finally:
        _current.reset(token)


# The callables jinja2.ext.i18n calls (newstyle: it then fills `%(name)s` from keyword arguments,
# escaping the values). A translation is text, never markup: it is escaped like any other value
# in an autoescaped (.html) template, so a page reads the same whatever the catalog holds.


def _text(eval_ctx: EvalContext, s: str) -> str:
    return Markup.escape(s) if eval_ctx.autoescape else s


@pass_eval_context
def jinja_gettext(eval_ctx: EvalContext, message: str) -> str:
    return _text(eval_ctx, catalog(_current.get()).gettext(message))


@pass_eval_context
def jinja_ngettext(eval_ctx: EvalContext, singular: str, plural: str, n: int) -> str:
    return _text(eval_ctx, catalog(_current.get()).ngettext(singular, plural, n))


@pass_eval_context
def jinja_pgettext(eval_ctx: EvalContext, context: str, message: str) -> str:
    return _text(eval_ctx, catalog(_current.get()).pgettext(context, message))


@pass_eval_context
def jinja_npgettext(eval_ctx: EvalContext, context: str, singular: str, plural: str, n: int) -> str:
    return _text(eval_ctx, catalog(_current.get()).npgettext(context, singular, plural, n))


def by_lang(zh: str, en: str) -> str:
    """A value the database keeps in both languages (a product's name_zh / name_en), not a catalog
    text: the one of the render's language."""
    return en if _current.get() == "en" else zh
