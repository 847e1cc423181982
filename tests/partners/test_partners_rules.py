"""Pure partner rules: R-PARTNER-01/02/04, R-ADMIT-06 and the identity-field checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openability.kernel.errors import AppError, InvalidArgument, RuleViolation
from openability.partners import rules
from openability.partners.types import BillingMode, PartnerKind

WORDS = ["天翼应用工厂", "电信公司"]


def test_r_partner_04_brand_word_in_name_is_refused_naming_the_word() -> None:
    with pytest.raises(RuleViolation) as ei:
        rules.validate_name("上海电信公司合作伙伴", WORDS)
    assert ei.value.code == "BRAND_WORD"
    assert "电信公司" in ei.value.message
    assert ei.value.details["word"] == "电信公司"


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("北京 电 信公司 科技", "电信公司"),
        ("天翼\u3000应用工厂代理", "天翼应用工厂"),
        ("ＸＹ电信公司", "电信公司"),
        # Traditional characters, alone or mixed with simplified ones.
        ("上海電信公司合作夥伴", "电信公司"),
        ("天翼應用工廠", "天翼应用工厂"),
        ("天翼应用工廠", "天翼应用工厂"),
        ("杭州電信分部電信公司", "电信公司"),
        # Inserted spaces (ASCII, full-width, no-break), punctuation, symbols and invisible characters.
        ("電 信 公 司科技", "电信公司"),
        ("天翼·應用－工廠", "天翼应用工厂"),
        ("電、信（公）司", "电信公司"),
        ("电.信_公-司", "电信公司"),
        ("天翼\u00a0应用\u2003工厂", "天翼应用工厂"),
        ("電★信☆公♥司", "电信公司"),
        # Full-width CJK punctuation.
        ("天翼，應用：工廠！", "天翼应用工厂"),
    ],
)
def test_r_partner_04_brand_word_matched_across_scripts_width_spacing_and_punctuation(
    name: str, word: str
) -> None:
    assert rules.find_brand_word(name, WORDS) == word
    with pytest.raises(RuleViolation) as ei:
        rules.validate_name(name, WORDS)
    assert ei.value.code == "BRAND_WORD"
    assert ei.value.details["word"] == word
    assert f"protected brand word {word!r}" in ei.value.message


def test_r_partner_04_brand_word_in_traditional_characters_names_the_protected_word() -> None:
    # The message names the word as the setting spells it (simplified), not the traditional spelling.
    with pytest.raises(RuleViolation) as ei:
        rules.validate_name("天翼應用工廠合作商", WORDS)
    assert ei.value.code == "BRAND_WORD"
    assert "天翼应用工厂" in ei.value.message and "R-PARTNER-04" in ei.value.message


def test_r_partner_04_invisible_characters_do_not_hide_a_brand_word() -> None:
    # validate_name refuses format characters outright; the word check ignores them on its own too.
    assert rules.find_brand_word("天翼\u200b應用\u2060工廠", WORDS) == "天翼应用工厂"
    with pytest.raises(RuleViolation) as ei:
        rules.check_brand_words("电\u200d信\ufeff公司", WORDS)
    assert ei.value.details["word"] == "电信公司"


def test_r_partner_04_brand_words_set_in_traditional_also_match_simplified_names() -> None:
    # The setting itself may be spelt in traditional characters or with spaces; both sides are folded.
    assert rules.find_brand_word("上海电信公司", ["電信 公司"]) == "電信 公司"


@pytest.mark.parametrize(
    "name", ["电讯科技有限公司", "天翼科技", "应用工厂", "公司电信", "電訊工廠", "Telco Comms Ltd"]
)
def test_r_partner_04_names_without_a_brand_word_pass(name: str) -> None:
    assert rules.find_brand_word(name, [*WORDS, "telecom"]) is None


def test_r_partner_04_brand_word_matched_ignoring_case() -> None:
    assert rules.find_brand_word("Acme TELECOM Ltd", ["telecom"]) == "telecom"
    assert rules.find_brand_word("Acme tele com", ["Telecom"]) == "Telecom"
    assert rules.find_brand_word("Acme Ｔｅｌｅ-Ｃｏｍ", ["telecom"]) == "telecom"
    assert rules.find_brand_word("Acme T.E.L.E.C.O.M.", ["TeleCom"]) == "TeleCom"


def test_r_partner_04_brand_words_come_from_the_setting() -> None:
    assert rules.find_brand_word("上海电信公司", []) is None
    with pytest.raises(RuleViolation):
        rules.validate_name("某某集团代理", ["集团"])


def test_r_partner_04_branch_names_are_checked_too() -> None:
    assert rules.validate_branches(["杭州分公司", " 杭州分公司 ", "苏州 分公司"], WORDS) == [
        "杭州分公司",
        "苏州 分公司",
    ]
    with pytest.raises(RuleViolation) as ei:
        rules.validate_branches(["杭州分公司", "天翼应用工厂苏州分部"], WORDS)
    assert ei.value.code == "BRAND_WORD"
    assert "branch name" in ei.value.message


def test_r_partner_04_rename_checks_the_new_name() -> None:
    # The same check guards a rename (service.update_partner calls validate_name on the new name).
    assert rules.validate_name("新名称科技有限公司", WORDS) == "新名称科技有限公司"
    with pytest.raises(RuleViolation):
        rules.validate_name("新名称电信公司", WORDS)


@pytest.mark.parametrize("name", ["A", "", "   ", "x" * 101, "abc\x00def"])
def test_name_length_and_characters(name: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        rules.validate_name(name, WORDS)
    assert ei.value.code == "INVALID_NAME"


def test_name_is_trimmed_and_spaces_collapsed() -> None:
    assert rules.validate_name("  Acme   Soft  ", WORDS) == "Acme Soft"
    assert rules.validate_name("ab", WORDS) == "ab"
    assert rules.validate_name("x" * 100, WORDS) == "x" * 100


def test_r_partner_01_ap_is_always_prepaid() -> None:
    assert rules.check_billing_mode(PartnerKind.AP, "prepaid") == BillingMode.PREPAID
    with pytest.raises(RuleViolation) as ei:
        rules.check_billing_mode(PartnerKind.AP, "postpaid")
    assert ei.value.code == "AP_PREPAID_ONLY"
    assert "R-PARTNER-01" in ei.value.message


def test_r_partner_02_si_billing_mode_is_prepaid_or_postpaid() -> None:
    assert rules.check_billing_mode(PartnerKind.SI, "prepaid") == BillingMode.PREPAID
    assert rules.check_billing_mode(PartnerKind.SI, BillingMode.POSTPAID) == BillingMode.POSTPAID
    for bad in ("both", "prepaid,postpaid", ""):
        with pytest.raises(InvalidArgument) as ei:
            rules.check_billing_mode(PartnerKind.SI, bad)
        assert ei.value.code == "INVALID_BILLING_MODE"


def test_r_admit_06_ap_needs_no_review() -> None:
    assert rules.ap_needs_review() is False


@pytest.mark.parametrize("u", ["ab", "-abc", "has space", "名字abc", "x" * 81, "a@b"])
def test_invalid_usernames(u: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        rules.validate_username(u)
    assert ei.value.code == "INVALID_USERNAME"


def test_usernames_are_lower_cased() -> None:
    assert rules.validate_username(" Alice.W_1 ") == "alice.w_1"


@pytest.mark.parametrize("e", ["a@b.co", "first.last+tag@Example.COM", "x@sub.example.cn"])
def test_valid_emails(e: str) -> None:
    out = rules.validate_email(e)
    assert out.split("@")[1] == out.split("@")[1].lower()


@pytest.mark.parametrize("e", ["", "a@", "@b.com", "a@b", "a b@c.com", "a@@b.com", "a@b..com"])
def test_invalid_emails(e: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        rules.validate_email(e)
    assert ei.value.code == "INVALID_EMAIL"


def test_optional_email_may_be_empty() -> None:
    assert rules.validate_email("  ", required=False) == ""


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("86-19912345678", "+8619912345678"),
        ("010-12345678", "010-12345678"),
        ("0571 87654321", "0571-87654321"),
        ("021-1234567-88", "021-1234567-88"),
    ],
)
def test_mainland_phone_numbers(raw: str, norm: str) -> None:
    assert rules.validate_phone(raw) == norm


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "+1 415 555 0100", "abc", "", "138001380001"])
def test_invalid_phone_numbers(raw: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        rules.validate_phone(raw)
    assert ei.value.code == "INVALID_PHONE"


def test_credit_code_check_character(valid_credit_code: Callable[[str], str]) -> None:
    good = valid_credit_code("91350100M000100Y4")
    assert good == "91350100M000100Y43"  # a published example code
    assert rules.validate_credit_code(good.lower()) == good
    assert rules.validate_credit_code("") is None
    assert rules.validate_credit_code(None) is None
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    for code in (bad, good[:17], good + "1", "91350100M000100I43"):
        with pytest.raises(InvalidArgument) as ei:
            rules.validate_credit_code(code)
        assert ei.value.code == "INVALID_CREDIT_CODE"


@pytest.mark.parametrize("pw", ["short1", "onlyletters", "1234567890", "", "a1" * 65])
def test_weak_passwords(pw: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        rules.validate_password(pw)
    assert ei.value.code == "WEAK_PASSWORD"


def test_strong_password() -> None:
    assert rules.validate_password("abcd1234") == "abcd1234"


def test_scopes_subset_sorted_unique() -> None:
    assert rules.validate_scopes(["voice", "SMS", "sms"]) == ["sms", "voice"]
    for bad in ([], ["fax"], ["sms", "email"]):
        with pytest.raises(InvalidArgument) as ei:
            rules.validate_scopes(bad)
        assert ei.value.code == "INVALID_SCOPE"


def test_scope_narrowing() -> None:
    assert rules.narrow_scopes(["mms", "sms"], None) == ["mms", "sms"]
    assert rules.narrow_scopes(["mms", "sms"], ["sms"]) == ["sms"]
    with pytest.raises(InvalidArgument):
        rules.narrow_scopes(["sms"], ["voice"])


def test_operator_roles() -> None:
    assert rules.validate_operator_roles(["reviewer", "admin", "admin"]) == ["admin", "reviewer"]
    for bad in ([], ["root"], ["admin", "god"]):
        with pytest.raises(InvalidArgument) as ei:
            rules.validate_operator_roles(bad)
        assert ei.value.code == "INVALID_ROLE"


def test_partner_user_roles_never_pass_operator_role_checks() -> None:
    assert rules.validate_partner_user_role("developer") == "developer"
    with pytest.raises(AppError):
        rules.validate_partner_user_role("reviewer")
    from openability.kernel.uow import Actor

    a = Actor(type="partner_user", id="pu_1", partner_id="prt_1", roles=rules.partner_actor_roles("admin"))
    assert not a.has_role("reviewer")
    assert not a.has_role("admin")
