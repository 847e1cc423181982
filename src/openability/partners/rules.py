"""Partner rules: pure functions, no I/O (R-PARTNER-01/02/04, R-ADMIT-06, identity field checks).

Each check returns the normalized value or raises a kernel error with a stable code, so the
service and the HTTP edge report the same thing."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal

import opencc

from openability.kernel.errors import InvalidArgument, RuleViolation
from openability.partners.types import BillingMode, PartnerKind

SCOPES: frozenset[str] = frozenset({"sms", "mms", "voice"})
OPERATOR_ROLES: frozenset[str] = frozenset(
    {"admin", "reviewer", "product_manager", "billing_clerk", "service_agent", "service_lead"}
)
PARTNER_USER_ROLES: frozenset[str] = frozenset({"admin", "developer", "finance"})
# Actor.roles of partner users carry this prefix, so that `Actor.has_role("admin")` (meant for operator
# roles) can never be satisfied by a partner's own admin.
PARTNER_ROLE_PREFIX = "partner_"

NAME_MIN, NAME_MAX = 2, 100
MAX_BRANCHES = 50
PASSWORD_MIN, PASSWORD_MAX = 8, 128
MAX_ACTIVE_CLIENTS = 20
LOGIN_TTL_SECONDS = 12 * 3600

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,79}$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$"
)
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})(?:-(\d{1,6}))?$")
# 统一社会信用代码 (GB 32100-2015): 18 characters, no I, O, Z, S, V.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@functools.cache
def _to_simplified() -> tuple[opencc.OpenCC, opencc.OpenCC]:
    """OpenCC converters (dictionaries ship inside the wheel; nothing is fetched at run time): Hong Kong
    and Taiwan variant forms first mapped to standard traditional, then traditional to simplified."""
    return opencc.OpenCC("hk2s"), opencc.OpenCC("tw2s")


def fold_name(s: str) -> str:
    """Compare text the way a reader would (R-PARTNER-04): compatibility forms unified (NFKC: full-width
    letters, digits and spaces, CJK compatibility ideographs), traditional Chinese turned simplified,
    case folded, and everything but letters, digits and combining marks dropped (whitespace,
    punctuation, symbols, invisible format characters). So "電信公司", "电 信·公司" or "ＴＥＬＥＣＯＭ" cannot
    slip past a word list."""
    text = unicodedata.normalize("NFKC", s)
    for converter in _to_simplified():
        text = str(converter.convert(text))
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM")


def find_brand_word(name: str, brand_words: Iterable[str]) -> str | None:
    """The first protected word (as the setting spells it) whose folded form occurs in the folded name."""
    folded = fold_name(name)
    for word in brand_words:
        w = fold_name(word)
        if w and w in folded:
            return word
    return None


def check_brand_words(name: str, brand_words: Iterable[str], *, what: str = "partner name") -> None:
    """R-PARTNER-04: partner and branch names may not contain the operator's protected brand words."""
    word = find_brand_word(name, brand_words)
    if word is not None:
        raise RuleViolation(
            f"the {what} {name!r} contains the protected brand word {word!r} (R-PARTNER-04)",
            code="BRAND_WORD",
            details={"word": word, "field": what},
        )


def validate_name(name: str, brand_words: Iterable[str], *, what: str = "partner name") -> str:
    """A partner or branch name: trimmed, 2–100 characters, printable, no brand word."""
    if not isinstance(name, str):
        raise InvalidArgument(f"{what} must be a string")
    cleaned = " ".join(name.split())
    if not NAME_MIN <= len(cleaned) <= NAME_MAX:
        raise InvalidArgument(
            f"{what} must be {NAME_MIN}–{NAME_MAX} characters, got {len(cleaned)}", code="INVALID_NAME"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InvalidArgument(f"{what} contains control characters", code="INVALID_NAME")
    check_brand_words(cleaned, brand_words, what=what)
    return cleaned


def validate_branches(branches: Sequence[str], brand_words: Iterable[str]) -> list[str]:
    words = list(brand_words)
    if len(branches) > MAX_BRANCHES:
        raise InvalidArgument(f"at most {MAX_BRANCHES} branches", code="INVALID_NAME")
    out: list[str] = []
    for b in branches:
        name = validate_name(b, words, what="branch name")
        if name not in out:
            out.append(name)
    return out


def validate_username(username: str) -> str:
    """Usernames are case-insensitive (stored lower-case): 3–80 of a-z 0-9 _ . -, starting alphanumeric."""
    u = username.strip().lower()
    if not _USERNAME.match(u):
        raise InvalidArgument(
            "username must be 3–80 characters of letters, digits, '_', '.', '-', starting with a letter "
            "or digit",
            code="INVALID_USERNAME",
        )
    return u


def validate_email(email: str, *, required: bool = True) -> str:
    e = email.strip()
    if not e and not required:
        return ""
    if len(e) > 200 or not _EMAIL.match(e):
        raise InvalidArgument(f"not a valid email address: {email!r}", code="INVALID_EMAIL")
    local, _, domain = e.rpartition("@")
    return f"{local}@{domain.lower()}"


def validate_phone(phone: str, *, required: bool = True) -> str:
    """Mainland-China numbers: mobile (normalized to E.164 +86…) or landline with area code (0xx-…)."""
    raw = phone.strip()
    if not raw and not required:
        return ""
    compact = re.sub(r"[\s()]", "", raw)
    m = _MOBILE.match(compact.replace("-", ""))
    if m:
        return "+86" + m.group(1)
    m = _LANDLINE.match(compact)
    if m:
        area, number, ext = m.groups()
        return f"{area}-{number}" + (f"-{ext}" if ext else "")
    raise InvalidArgument(
        f"not a mainland-China phone number: {phone!r} (mobile 1xxxxxxxxxx or landline 0xx-xxxxxxxx)",
        code="INVALID_PHONE",
    )


def credit_code_check_char(first17: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str | None) -> str | None:
    """统一社会信用代码: 18 characters with the GB 32100 check character; optional."""
    if code is None or not code.strip():
        return None
    c = code.strip().upper()
    if len(c) != 18 or any(ch not in _CREDIT_ALPHABET for ch in c) or credit_code_check_char(c[:17]) != c[17]:
        raise InvalidArgument(f"not a valid unified social credit code: {code!r}", code="INVALID_CREDIT_CODE")
    return c


def validate_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidArgument(
            f"password must be {PASSWORD_MIN}–{PASSWORD_MAX} characters", code="WEAK_PASSWORD"
        )
    if not any(ch.isalpha() for ch in password) or not any(ch.isdigit() for ch in password):
        raise InvalidArgument("password must contain letters and digits", code="WEAK_PASSWORD")
    return password


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """API client scopes: a non-empty subset of the capabilities, sorted and de-duplicated."""
    got = [s.strip().lower() for s in scopes]
    unknown = sorted({s for s in got if s not in SCOPES})
    if unknown:
        raise InvalidArgument(
            f"unknown scope(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SCOPES))}",
            code="INVALID_SCOPE",
        )
    if not got:
        raise InvalidArgument("at least one scope is required", code="INVALID_SCOPE")
    return sorted(set(got))


def narrow_scopes(granted: Sequence[str], requested: Iterable[str] | None) -> list[str]:
    """OAuth scope narrowing: a token may carry the client's scopes or a subset of them."""
    if requested is None:
        return sorted(granted)
    req = validate_scopes(requested)
    extra = [s for s in req if s not in granted]
    if extra:
        raise InvalidArgument(f"scope(s) {', '.join(extra)} not granted to this client", code="INVALID_SCOPE")
    return req


def validate_operator_roles(roles: Iterable[str]) -> list[str]:
    got = sorted({r.strip() for r in roles})
    unknown = [r for r in got if r not in OPERATOR_ROLES]
    if unknown:
        raise InvalidArgument(
            f"unknown role(s) {', '.join(unknown)}; allowed: {', '.join(sorted(OPERATOR_ROLES))}",
            code="INVALID_ROLE",
        )
    if not got:
        raise InvalidArgument("an operator needs at least one role", code="INVALID_ROLE")
    return got


def validate_partner_user_role(role: str) -> str:
    if role not in PARTNER_USER_ROLES:
        raise InvalidArgument(
            f"unknown partner user role {role!r}; allowed: {', '.join(sorted(PARTNER_USER_ROLES))}",
            code="INVALID_ROLE",
        )
    return role


def partner_actor_roles(role: str) -> frozenset[str]:
    return frozenset({PARTNER_ROLE_PREFIX + role})


def check_billing_mode(kind: PartnerKind, mode: BillingMode | str) -> BillingMode:
    """R-PARTNER-01: an AP is always prepaid. R-PARTNER-02: an SI is prepaid or postpaid (one mode)."""
    try:
        bm = BillingMode(mode)
    except ValueError:
        raise InvalidArgument(
            f"billing mode must be 'prepaid' or 'postpaid', got {mode!r} (R-PARTNER-02)",
            code="INVALID_BILLING_MODE",
        ) from None
    if kind == PartnerKind.AP and bm != BillingMode.PREPAID:
        raise RuleViolation(
            "an AP is always prepaid; postpaid billing is refused (R-PARTNER-01)", code="AP_PREPAID_ONLY"
        )
    return bm


def check_registered_capital(capital: Decimal | None, minimum: Decimal) -> None:
    """R-ADMIT-02: an SI's registered capital is at least the minimum (a setting); below it is refused
    with both figures in the reason. None: not stated (the admission checks require it)."""
    if capital is not None and capital < minimum:
        raise RuleViolation(
            f"registered capital CNY {capital:,.2f} is below the minimum of CNY {minimum:,.2f} (R-ADMIT-02)",
            code="CAPITAL_TOO_LOW",
            details={"registeredCapital": f"{capital:.2f}", "minimum": f"{minimum:.2f}"},
        )


def ap_needs_review() -> bool:
    """R-ADMIT-06: an AP registers and buys online; beyond the brand-word check and identity fields
    there is no operator review, so a registered AP is active at once."""
    return False


def lockout_seconds(failures: int, threshold: int, base: float, cap: float) -> float:
    """Seconds a key stays locked after `failures` failures in a row: none below `threshold`, then
    `base`, doubling with each further failure, at most `cap` (exponential back-off)."""
    if failures < threshold:
        return 0.0
    return float(min(cap, base * 2 ** (failures - threshold)))
