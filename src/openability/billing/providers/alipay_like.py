"""An online payment provider speaking Alipay's open-platform protocol (RSA2 signatures).

- Order: `alipay.trade.precreate` (当面付 / QR pay): a form POST to the gateway with the common
  parameters and `biz_content`, signed by the platform's application private key (SHA256withRSA over
  the sorted `key=value` pairs, `sign` left out, empty values left out). The answer's
  `alipay_trade_precreate_response` object is signed by the provider over its exact JSON text; its
  `qr_code` is what the payer scans (or opens on a phone).
- Notification: a form POST (`trade_status_sync`) signed by the provider over the sorted pairs with
  `sign` and `sign_type` left out, verified with the provider's public key from settings; the
  platform answers the text `success` once handled (anything else and the provider retries).

Keys are PEM files, or the bare base64 text the provider's key tool prints (DER inside)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from openability.billing.providers.base import (
    BadNotification,
    Notification,
    NotifyReply,
    OrderRequest,
    ProviderOrder,
    ProviderUnavailable,
    TradeStatus,
)
from openability.kernel.clock import SHANGHAI
from openability.kernel.money import FEN, MoneyError, parse_money

if TYPE_CHECKING:
    import httpx  # imported by the call that reaches the gateway: ~6 MiB a server needs only then

PRECREATE = "alipay.trade.precreate"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the provider's timestamps: Asia/Shanghai wall time
STATUSES = {
    "TRADE_SUCCESS": TradeStatus.PAID,
    "TRADE_FINISHED": TradeStatus.PAID,  # paid, and no refund possible any more
    "TRADE_CLOSED": TradeStatus.CLOSED,
    "WAIT_BUYER_PAY": TradeStatus.WAITING,
}
REQUIRED = ("app_id", "out_trade_no", "trade_no", "total_amount", "trade_status")


# ---- signatures (RSA2: SHA256withRSA, PKCS#1 v1.5, base64) ---------------------------------------


def sign_content(params: Mapping[str, str], exclude: frozenset[str] = frozenset({"sign"})) -> str:
    """The signed text: `k=v` pairs sorted by key, joined by `&`, raw values, empty ones left out."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v != "")


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    return base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(key: rsa.RSAPublicKey, content: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _pem_or_der(text: bytes) -> tuple[bool, bytes]:
    stripped = text.strip()
    if stripped.startswith(b"-----BEGIN"):
        return True, stripped
    return False, base64.b64decode(b"".join(stripped.split()))


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    pem, data = _pem_or_der(path.read_bytes())
    key = (
        serialization.load_pem_private_key(data, password=None)
        if pem
        else serialization.load_der_private_key(data, password=None)
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    pem, data = _pem_or_der(path.read_bytes())
    key = serialization.load_pem_public_key(data) if pem else serialization.load_der_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: not an RSA public key")
    return key


def signed_json_part(text: str, key: str) -> str | None:
    """The exact JSON text of the value of `key` (an object) in `text`: the provider signs the bytes
    it sent, so the part is cut out of the answer, not re-serialized."""
    at = text.find(f'"{key}"')
    if at < 0:
        return None
    start = text.find("{", at + len(key) + 2)
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


# ---- the adapter ---------------------------------------------------------------------------------


class AlipayLikeProvider:
    """An Alipay-protocol provider. `transport` is for tests that reach a fake provider in-process."""

    def __init__(
        self,
        *,
        name: str,
        app_id: str,
        gateway_url: str,
        private_key: rsa.RSAPrivateKey,
        provider_public_key: rsa.RSAPublicKey,
        merchant_id: str = "",
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._name = name
        self._app_id = app_id
        self._merchant_id = merchant_id
        self.gateway_url = gateway_url
        self._private_key = private_key
        self._public_key = provider_public_key
        self._timeout = timeout_seconds
        self._transport = transport

    @property
    def name(self) -> str:
        return self._name

    @property
    def app_id(self) -> str:
        return self._app_id

    @property
    def merchant_id(self) -> str:
        return self._merchant_id

    def _request_params(
        self, method: str, biz: Mapping[str, Any], notify_url: str, now: datetime
    ) -> dict[str, str]:
        params = {
            "app_id": self._app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": now.astimezone(SHANGHAI).strftime(TIME_FORMAT),
            "version": "1.0",
            "notify_url": notify_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        return params

    async def create_order(self, order: OrderRequest) -> ProviderOrder:
        biz = {
            "out_trade_no": order.order_id,
            "total_amount": f"{order.amount.quantize(FEN)}",
            "subject": order.subject[:256],
            "timeout_express": f"{order.timeout_minutes}m",
        }
        params = self._request_params(PRECREATE, biz, order.notify_url, order.requested_at)
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                r = await client.post(self.gateway_url, data=params, params={"charset": "utf-8"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self._name}: the gateway did not answer ({type(exc).__name__})"
            ) from None
        if r.status_code != 200:
            raise ProviderUnavailable(f"{self._name}: the gateway answered HTTP {r.status_code}")
        return self._read_precreate(r.text, order)

    def _read_precreate(self, text: str, order: OrderRequest) -> ProviderOrder:
        root = PRECREATE.replace(".", "_") + "_response"
        try:
            doc = json.loads(text)
        except ValueError:
            raise ProviderUnavailable(f"{self._name}: the gateway's answer is not JSON") from None
        part = signed_json_part(text, root)
        body = doc.get(root) if isinstance(doc, dict) else None
        if part is None or not isinstance(body, dict):
            raise ProviderUnavailable(f"{self._name}: the gateway answered no {root}")
        sign = doc.get("sign")
        if not isinstance(sign, str) or not rsa2_verify(self._public_key, part, sign):
            raise ProviderUnavailable(f"{self._name}: the gateway's answer is not signed by the provider")
        if body.get("code") != "10000":
            why = " ".join(str(body.get(k, "")) for k in ("code", "msg", "sub_code", "sub_msg")).strip()
            raise ProviderUnavailable(f"{self._name}: the order was refused: {why}")
        qr = body.get("qr_code")
        if body.get("out_trade_no") != order.order_id or not isinstance(qr, str) or not qr:
            raise ProviderUnavailable(f"{self._name}: the answer is not about order {order.order_id}")
        return ProviderOrder(pay_url=qr)

    def parse_notification(self, content_type: str, body: bytes) -> dict[str, str]:
        media = content_type.split(";", 1)[0].strip().lower()
        try:
            if media == "application/json":
                doc = json.loads(body)
                if not isinstance(doc, dict) or not all(
                    isinstance(v, (str, int)) and not isinstance(v, bool) for v in doc.values()
                ):
                    raise ValueError("a JSON object of strings")
                return {str(k): str(v) for k, v in doc.items()}
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadNotification(f"the notification cannot be read: {exc}") from None
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise BadNotification("the notification repeats a field")
        return fields

    def verify_notification(self, fields: Mapping[str, str]) -> Notification:
        if fields.get("sign_type", "RSA2") != "RSA2":
            raise BadNotification("sign_type must be RSA2", code="INVALID_SIGNATURE")
        sign = fields.get("sign", "")
        content = sign_content(fields, exclude=frozenset({"sign", "sign_type"}))
        if not sign or not rsa2_verify(self._public_key, content, sign):
            raise BadNotification(f"the notification is not signed by {self._name}", code="INVALID_SIGNATURE")
        missing = [k for k in REQUIRED if not fields.get(k)]
        if missing:
            raise BadNotification(f"the notification lacks {', '.join(missing)}")
        status = STATUSES.get(fields["trade_status"])
        if status is None:
            raise BadNotification(f"unknown trade_status {fields['trade_status']!r}")
        try:
            amount = parse_money(fields["total_amount"], field="total_amount", places=2)
        except MoneyError as exc:
            raise BadNotification(str(exc)) from None
        return Notification(
            provider=self._name,
            app_id=fields["app_id"],
            merchant_id=fields.get("seller_id", ""),
            order_id=fields["out_trade_no"],
            transaction_id=fields["trade_no"],
            amount=Decimal(amount),
            status=status,
            raw_status=fields["trade_status"],
            paid_at=_time(fields.get("gmt_payment", "")),
        )

    def success_reply(self) -> NotifyReply:
        return NotifyReply("success")


def _time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=SHANGHAI) if value else None
    except ValueError:
        return None
