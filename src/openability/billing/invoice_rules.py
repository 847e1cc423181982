"""Pure invoice rules (issue 7 item 7): the VAT split of a tax-inclusive amount, invoice numbers, the
buyer's invoice profile (统一社会信用代码, 普通 / 专用), the amount in Chinese capital numerals (大写),
the official fapiao number and its CSV import, and how much of a prepaid month's consumption is still
to invoice. No I/O.

Catalog prices are tax-inclusive, as Chinese telecom tariffs are quoted: an invoice (and a statement)
states the gross amount (价税合计) and splits it into the amount before tax and the VAT:
tax = round_half_up(gross × rate / (1 + rate)) to the fen, net = gross − tax."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from openability.billing.types import InvoiceType
from openability.kernel.errors import InvalidArgument
from openability.kernel.money import FEN, round_fen
from openability.partners.rules import credit_code_check_char

MAX_RATE = Decimal("0.5")
RATE_PLACES = Decimal("0.0001")

# ---- the VAT split -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VatSplit:
    gross: Decimal  # 价税合计: what the partner pays, tax included
    net: Decimal  # 金额: before tax
    tax: Decimal  # 税额
    rate: Decimal  # 税率, e.g. 0.06


def check_vat_rate(rate: Decimal) -> Decimal:
    """A VAT rate as a fraction: 0 ≤ rate ≤ 0.5, at most 4 decimals (0.06 for value-added telecom
    services, 0.09 for basic telecom services)."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate <= MAX_RATE:
        raise ValueError(f"VAT rate must be a fraction between 0 and {MAX_RATE} (0.06 is 6%), got {rate}")
    if rate != rate.quantize(RATE_PLACES):
        raise ValueError(f"VAT rate {rate} has more than 4 decimals")
    return rate


def vat_split(gross: Decimal, rate: Decimal) -> VatSplit:
    """Split a tax-inclusive amount in whole fen: the tax rounded half up to the fen (四舍五入), the net
    the rest, so net + tax == gross exactly. A negative amount (a credit) splits symmetrically."""
    check_vat_rate(rate)
    if gross != round_fen(gross):
        raise ValueError(f"an invoiced amount is a whole fen, got {gross}")
    tax = (gross * rate / (1 + rate)).quantize(FEN, rounding=ROUND_HALF_UP)
    return VatSplit(gross=gross.quantize(FEN), net=(gross - tax).quantize(FEN), tax=tax, rate=rate)


def rate_label(rate: Decimal) -> str:
    """0.06 -> '6%', 0.065 -> '6.5%'."""
    pct = (rate * 100).normalize()
    return f"{pct:f}%"


# ---- numbering -----------------------------------------------------------------------------------


def invoice_number(month: str, seq: int) -> str:
    """month 'YYYY-MM' or 'YYYYMM' -> 'INV-YYYYMM-000123': a counter per month (Asia/Shanghai)."""
    m = month.replace("-", "")
    if len(m) != 6 or not m.isdigit() or seq < 1:
        raise ValueError("invoice number needs a YYYYMM month and a positive sequence")
    return f"INV-{m}-{seq:06d}"


INVOICE_NUMBER = re.compile(r"^INV-(\d{4})(\d{2})-(\d{6,})$")


def month_of_number(number: str) -> str:
    """'INV-202611-000123' -> '2026-11'."""
    m = INVOICE_NUMBER.match(number)
    if not m:
        raise ValueError(f"not an invoice number: {number!r}")
    return f"{m.group(1)}-{m.group(2)}"


# ---- the buyer: unified social credit code, invoice profile --------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, Z, S, V


def credit_code_valid(code: str) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters of the code alphabet, the last one the check
    character over the first 17 (weights 3^i mod 31, check = 31 − Σ mod 31)."""
    return (
        len(code) == 18
        and all(ch in CREDIT_ALPHABET for ch in code)
        and credit_code_check_char(code[:17]) == code[17]
    )


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """A partner's invoice profile (what its invoices are made out to)."""

    buyer_name: str
    credit_code: str
    bank_name: str
    bank_account: str
    address: str
    phone: str
    invoice_type: InvoiceType


_BANK_ACCOUNT = re.compile(r"^[0-9]{6,40}$")
_PHONE = re.compile(r"^[0-9+()\- ]{5,40}$")
LIMITS = {"buyer_name": 200, "bank_name": 100, "address": 200}


def check_profile(p: ProfileInput) -> ProfileInput:
    """Normalise and validate an invoice profile. A special (专用) invoice needs the buyer's credit
    code, bank name and account, address and phone; a general (普通) one the buyer's name, and checks
    whatever else is given. Every problem is named at once (400 INVALID_INVOICE_PROFILE)."""
    name = " ".join(p.buyer_name.split())
    code = p.credit_code.strip().upper()
    bank = " ".join(p.bank_name.split())
    account = re.sub(r"[ \-]", "", p.bank_account.strip())
    address = " ".join(p.address.split())
    phone = p.phone.strip()
    problems = []
    if not name:
        problems.append("buyerName: required (购买方名称)")
    for field, value in (("buyer_name", name), ("bank_name", bank), ("address", address)):
        if len(value) > LIMITS[field]:
            problems.append(f"{_camel(field)}: at most {LIMITS[field]} characters")
    if code and not credit_code_valid(code):
        problems.append(f"creditCode: {p.credit_code!r} is not a valid unified social credit code (GB 32100)")
    if account and not _BANK_ACCOUNT.match(account):
        problems.append("bankAccount: 6-40 digits")
    if phone and not _PHONE.match(phone):
        problems.append("phone: 5-40 characters of digits, +, -, (, ) and spaces")
    if p.invoice_type == InvoiceType.SPECIAL:
        required = {
            "creditCode": code,
            "bankName": bank,
            "bankAccount": account,
            "address": address,
            "phone": phone,
        }
        missing = [k for k, v in required.items() if not v]
        if missing:
            problems.append(f"a special (专用) invoice needs {', '.join(missing)}")
    if problems:
        raise InvalidArgument("; ".join(problems), code="INVALID_INVOICE_PROFILE")
    return ProfileInput(name, code, bank, account, address, phone, p.invoice_type)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


# ---- 大写: the amount in Chinese capital numerals -------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_IN_GROUP = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿", "万亿")


def _group_words(g: int) -> str:
    """1..9999 in capitals; zeros inside the group are one 零, trailing zeros nothing."""
    out, zero = "", False
    for pos in (3, 2, 1, 0):
        d = g // 10**pos % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
        out += _DIGITS[d] + _IN_GROUP[pos]
        zero = False
    return out


def _integer_words(n: int) -> str:
    groups = []
    while n:
        groups.append(n % 10_000)
        n //= 10_000
    if len(groups) > len(_GROUPS):
        raise ValueError("amount too large for capital numerals")
    out, gap = "", False
    for i in reversed(range(len(groups))):
        g = groups[i]
        if g == 0:
            gap = gap or bool(out)
            continue
        if out and (gap or g < 1000):
            out += "零"
        out += _group_words(g) + _GROUPS[i]
        gap = False
    return out


def amount_in_words(amount: Decimal) -> str:
    """The amount in capital numerals as an invoice writes 价税合计（大写）: 1234.56 -> 壹仟贰佰叁拾肆元伍角
    陆分, 100 -> 壹佰元整, 1000.05 -> 壹仟元零伍分, 0.30 -> 叁角, 0 -> 零元整, −5 -> 负伍元整. Rounded to the
    fen first (四舍五入)."""
    q = round_fen(amount)
    sign = "负" if q < 0 else ""
    fen_total = int(abs(q) * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    words = _integer_words(yuan) + ("元" if yuan else "")
    if not jiao and not fen:
        return sign + (words or "零元") + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan:
        words += "零"
    if fen:
        words += _DIGITS[fen] + "分"
    return sign + words


# ---- the official fapiao -------------------------------------------------------------------------

_FAPIAO_NUMBER = re.compile(r"^[0-9]{8,20}$")


def check_fapiao(number: str, issued_on: date, today: date) -> tuple[str, date]:
    """The tax system's fapiao number (8 digits of a paper fapiao, 20 of a fully digital one 数电票;
    8-20 digits are taken) and its date, not after today (Asia/Shanghai)."""
    n = number.strip()
    if not _FAPIAO_NUMBER.match(n):
        raise InvalidArgument(f"fapiaoNumber: 8-20 digits, got {number!r}", code="INVALID_FAPIAO")
    if issued_on > today:
        raise InvalidArgument(f"fapiaoDate {issued_on} is in the future", code="INVALID_FAPIAO")
    return n, issued_on


@dataclass(frozen=True, slots=True)
class FapiaoRow:
    line: int
    invoice_number: str
    fapiao_number: str
    fapiao_date: date


MAX_IMPORT_ROWS = 100_000


def parse_fapiao_csv(text: str, today: date) -> tuple[list[FapiaoRow], list[str]]:
    """The tax system's export, one fapiao a row: invoice number, fapiao number, date (YYYY-MM-DD or
    YYYY/MM/DD); a header row is allowed. Returns (rows, problems): every bad row is named by its line."""
    rows: list[FapiaoRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, rec in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in rec]
        if not any(cells):
            continue
        if line == 1 and not INVOICE_NUMBER.match(cells[0].upper()):
            continue  # a header
        if len(rows) + len(problems) >= MAX_IMPORT_ROWS:
            problems.append(f"line {line}: more than {MAX_IMPORT_ROWS} rows")
            break
        if len(cells) < 3:
            problems.append(f"line {line}: expected invoice number, fapiao number, date")
            continue
        inv, num, raw_date = cells[0].upper(), cells[1], cells[2].replace("/", "-")
        if not INVOICE_NUMBER.match(inv):
            problems.append(f"line {line}: {cells[0]!r} is not an invoice number (INV-YYYYMM-NNNNNN)")
            continue
        try:
            d = date.fromisoformat(raw_date)
            n, d = check_fapiao(num, d, today)
        except ValueError:
            problems.append(f"line {line}: {cells[2]!r} is not a date (YYYY-MM-DD)")
            continue
        except InvalidArgument as exc:
            problems.append(f"line {line}: {exc.message}")
            continue
        if inv in seen:
            problems.append(f"line {line}: invoice {inv} is also on line {seen[inv]}")
            continue
        seen[inv] = line
        rows.append(FapiaoRow(line, inv, n, d))
    return rows, problems


# ---- prepaid money invoiced monthly on consumption ------------------------------------------------


def consumption_to_invoice(consumed: Decimal, advance: Decimal) -> tuple[Decimal, Decimal]:
    """A prepaid month's consumption (its statement total) against what was already invoiced in advance
    and not yet consumed (top-up invoices, e.g. the one R-BILL-01 needs to open a prepaid SI, less what
    earlier months covered): returns (covered, to invoice). Nothing is invoiced twice, nothing negative."""
    if consumed <= 0:
        return Decimal("0.00"), Decimal("0.00")
    covered = min(max(advance, Decimal(0)), consumed)
    return covered.quantize(FEN), (consumed - covered).quantize(FEN)


def parse_rate(raw: str) -> Decimal:
    try:
        return check_vat_rate(Decimal(raw))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a VAT rate: {raw!r}") from exc
