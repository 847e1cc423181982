"""The console's texts come from gettext catalogs (docs/i18n.md): the msgids are the zh-CN texts of
the templates and the code, the English catalog translates every one of them, the committed .mo is
the compiled .po, pages render zh-CN by default and English after the switch (`?lang=en`, then the
cookie), and two renders in different languages at the same time keep their own language."""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from jinja2 import meta

from openability.console import i18n
from openability.console.web import env

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "src/openability/locale/en/LC_MESSAGES/messages.po"
MO = ROOT / "src/openability/locale/en/LC_MESSAGES/messages.mo"
TITLE = re.compile(r"<title>(.*?)</title>", re.S)
H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
NAV = re.compile(r"<nav>(.*?)</nav>", re.S)


def _keywords() -> dict[str, Any]:
    """Babel's default keywords plus the Makefile's I18N_KEYWORDS (the ones `make i18n` uses)."""
    line = next(ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("I18N_KEYWORDS"))
    extra = re.findall(r"-k\s+(\S+)", line)
    assert extra, line
    return {**DEFAULT_KEYWORDS, **parse_keywords(extra)}


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    """Every msgid (with its context) in the templates and the code, as `make i18n` extracts them."""
    babel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["babel"]
    method_map = [(m["pattern"], m["method"]) for m in babel["mappings"]]
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, {}, keywords=_keywords()
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


def _po() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f)


def _entries(cat: Catalog) -> dict[tuple[str | None, str], Message]:
    return {(m.context, str(m.id)): m for m in cat if m.id}


def test_every_console_text_has_an_english_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 300  # the extraction found the console's texts, not an empty tree
    po = _entries(_po())
    missing = {k: where for k, where in extracted.items() if k not in po}
    assert not missing, f"not in the English catalog (run `make i18n`, then translate): {missing}"
    untranslated = [k for k in extracted if not po[k].string]
    assert not untranslated, f"untranslated in {PO.name}: {untranslated}"
    fuzzy = [k for k in extracted if po[k].fuzzy]
    assert not fuzzy, f"fuzzy (review the guess, drop the flag): {fuzzy}"
    unused = sorted(k for k in po if k not in extracted)
    assert not unused, f"translations of texts no longer used (run `make i18n`): {unused}"


def test_translations_keep_the_placeholders_of_their_msgid() -> None:
    cat = _po()
    errors = [(str(m.id), [str(e) for e in errs]) for m, errs in cat.check()]
    assert not errors, errors
    for m in cat:
        if m.id:
            assert sorted(re.findall(r"%\(\w+\)s", str(m.id))) == sorted(
                re.findall(r"%\(\w+\)s", str(m.string))
            ), m.id


def _text(context: str | bytes | None) -> str | None:
    return context.decode() if isinstance(context, bytes) else context


def test_the_committed_mo_is_the_compiled_po() -> None:
    with MO.open("rb") as f:
        # (babel's read_mo leaves a context as bytes)
        compiled = {(_text(m.context), str(m.id)): m.string for m in read_mo(f) if m.id}
    translated = {k: m.string for k, m in _entries(_po()).items() if m.string and not m.fuzzy}
    assert compiled == translated, "messages.mo is stale: run `make i18n` (or `pybabel compile`)"


def _templates() -> Iterator[str]:
    loader = env().loader
    assert loader is not None
    yield from loader.list_templates()


def test_no_template_still_uses_the_inline_pair_helper() -> None:
    """`t("中文", "English")` is gone: a template calling it would fail at render time, so find it at
    parse time (every template also parses with jinja2.ext.i18n installed)."""
    e = env()
    names = [n for n in _templates() if n.endswith(".html")]
    assert len(names) == len(list((ROOT / "src/openability").glob("*/templates/*.html")))
    assert e.loader is not None
    for name in names:
        source = e.loader.get_source(e, name)[0]
        assert "t" not in meta.find_undeclared_variables(e.parse(source)), name


def test_translations_are_escaped_like_any_other_text() -> None:
    """A translated text is text: in an .html page its apostrophe is escaped as before, never markup."""
    tpl = env().from_string('{{ _("本月用量") }}|{{ pgettext("capitalized", "保证金") }}')
    with i18n.rendering_in("en"):
        assert tpl.render() == "This month&#39;s usage|Deposit"
    with i18n.rendering_in("zh"):
        assert tpl.render() == "本月用量|保证金"


def test_two_renders_in_different_languages_at_once_keep_their_own() -> None:
    """Both renders meet half-way (both have set their language) and again after the second text (so
    neither has finished): a language kept in one place for the whole process would hand one of them
    the other's language for the text between the two meetings."""
    barrier = threading.Barrier(2, timeout=10)

    def meet() -> str:
        barrier.wait()
        return ""

    tpl = env().from_string(
        '{{ _("工单队列") }}|{{ meet() }}{{ _("工单队列") }}|{{ by_lang("甲", "A") }}{{ meet() }}'
    )

    def render(lang: str) -> str:
        with i18n.rendering_in(lang):
            return tpl.render(meet=meet)

    with ThreadPoolExecutor(2) as pool:
        zh, en = pool.map(render, ["zh", "en"])
    assert zh == "工单队列|工单队列|甲"
    assert en == "Ticket queue|Ticket queue|A"


def _title(html: str) -> str:
    m = TITLE.search(html)
    assert m, html[:300]
    return m.group(1).strip()


@pytest.mark.parametrize(
    ("who", "url", "zh", "en"),
    [
        ("root", "/console/ops/partners", "合作伙伴", "Partners"),  # partners
        ("root", "/console/ops/catalog", "产品目录", "Catalog"),  # catalog
        ("root", "/console/ops/tickets", "工单队列", "Ticket queue"),  # tickets
        ("ap1user", "/console/portal", "合作伙伴门户", "Partner portal"),  # billing
        ("ap1user", "/console/portal/usage", "用量", "Usage"),  # charging
        ("ap1user", "/console/portal/notifications", "通知", "Notifications"),  # notifications
    ],
)
async def test_pages_render_zh_cn_by_default_and_english_after_the_switch(
    browser: Any, world: Any, who: str, url: str, zh: str, en: str
) -> None:
    await browser.login(who)
    r = await browser.get(url)
    assert r.status_code == 200
    assert '<html lang="zh-CN">' in r.text and _title(r.text) == zh
    r = await browser.get(url + "?lang=en")
    assert '<html lang="en">' in r.text and _title(r.text) == en
    assert "set-cookie" in r.headers
    r = await browser.get(url)  # the switch sticks (cookie)
    assert _title(r.text) == en
    r = await browser.get(url + "?lang=zh")
    assert _title(r.text) == zh


async def test_one_chinese_text_with_two_english_renderings_uses_its_context(
    browser: Any, world: Any
) -> None:
    """工单 is "Tickets" in the menu and "Ticket" as the queue's column; 通知 is "Notices" in the header
    and "Notifications" as the inbox's title."""
    await browser.login("root")
    r = await browser.get("/console/ops/tickets?lang=en")
    nav = NAV.search(r.text)
    assert nav and ">Tickets</a>" in nav.group(1)
    assert "<th>Ticket</th>" in r.text
    assert ">Notices <span" in r.text
    r = await browser.get("/console/ops/tickets?lang=zh")
    assert ">工单</a>" in r.text and "<th>工单</th>" in r.text and ">通知 <span" in r.text


async def test_messages_built_in_python_follow_the_language_with_their_values(
    browser: Any, world: Any
) -> None:
    """`tr(request, "订购成功：%(order)s", order=…)`: the flash of an order, in each language."""
    await browser.login("ap1user")
    await browser.get("/console/portal/orders?lang=en")
    r = await browser.follow(await browser.post("/console/portal/orders", {"product": "mms-standard"}))
    kind, text = browser.flash(r)
    assert kind == "ok" and re.fullmatch(r"Ordered: ord_\w+", text), text
    await browser.get("/console/portal/orders?lang=zh")
    r = await browser.follow(await browser.post("/console/portal/orders", {"product": ""}))
    assert browser.flash(r) == ("err", "请选择产品")
    r = await browser.get("/console/portal/orders?lang=en")
    r = await browser.follow(await browser.post("/console/portal/orders", {"product": ""}))
    assert browser.flash(r) == ("err", "Choose a product")
