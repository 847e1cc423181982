"""An online payment provider speaking WeChat Pay's merchant API v2 (HMAC-SHA256 signatures).

- Order: `pay/unifiedorder` with `trade_type=NATIVE` (QR pay): an XML POST signed with the merchant's
  API key; the answer (XML, signed the same way) carries the `code_url` the payer scans.
- Notification: an XML POST with `result_code`, `out_trade_no`, `transaction_id`, `total_fee` (in fen)
  and `sign`; verified with the API key; the platform answers `<xml><return_code>SUCCESS…` once
  handled (anything else and the provider retries).

The signature: HMAC-SHA256 keyed by the API key over the sorted non-empty `k=v` pairs (`sign` left
out) followed by `&key=<API key>`, as upper-case hex."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

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
from openability.kernel.money import FEN

if TYPE_CHECKING:
    import httpx  # imported by the call that reaches the gateway: ~6 MiB a server needs only then

TIME_FORMAT = "%Y%m%d%H%M%S"  # time_end: Asia/Shanghai wall time
REQUIRED = ("appid", "mch_id", "out_trade_no", "transaction_id", "total_fee", "result_code")
SUCCESS_REPLY = (
    "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
)


def hmac_sign(params: Mapping[str, str], api_key: str) -> str:
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return hmac.new(api_key.encode(), f"{content}&key={api_key}".encode(), hashlib.sha256).hexdigest().upper()


def to_xml(params: Mapping[str, str]) -> str:
    root = ET.Element("xml")
    for k, v in params.items():
        ET.SubElement(root, k).text = v
    return ET.tostring(root, encoding="unicode")


def from_xml(body: bytes) -> dict[str, str]:
    """A flat `<xml><k>v</k>…</xml>` document (no DTD: a notification is data, never entities)."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("a DTD is not allowed")
    root = ET.fromstring(body)
    if root.tag != "xml" or any(len(child) for child in root):
        raise ValueError("expected a flat <xml> document")
    fields = {child.tag: (child.text or "") for child in root}
    if len(fields) != len(root):
        raise ValueError("a field is repeated")
    return fields


def fen_of(amount: Decimal) -> str:
    return str(int(amount.quantize(FEN) * 100))


class WechatLikeProvider:
    """A WeChat-Pay-v2-protocol provider. `transport` is for tests that reach a fake in-process."""

    def __init__(
        self,
        *,
        name: str,
        app_id: str,
        merchant_id: str,
        api_key: str,
        gateway_url: str,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._name = name
        self._app_id = app_id
        self._merchant_id = merchant_id
        self._api_key = api_key
        self.gateway_url = gateway_url
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

    async def create_order(self, order: OrderRequest) -> ProviderOrder:
        params = {
            "appid": self._app_id,
            "mch_id": self._merchant_id,
            "nonce_str": secrets.token_hex(16),
            "body": order.subject[:128],
            "out_trade_no": order.order_id,
            "total_fee": fen_of(order.amount),
            "spbill_create_ip": "127.0.0.1",
            "notify_url": order.notify_url,
            "trade_type": "NATIVE",
            "product_id": order.order_id,
            "time_expire": (order.requested_at + timedelta(minutes=order.timeout_minutes))
            .astimezone(SHANGHAI)
            .strftime(TIME_FORMAT),
            "sign_type": "HMAC-SHA256",
        }
        params["sign"] = hmac_sign(params, self._api_key)
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                r = await client.post(
                    self.gateway_url, content=to_xml(params).encode(), headers={"Content-Type": "text/xml"}
                )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self._name}: the gateway did not answer ({type(exc).__name__})"
            ) from None
        if r.status_code != 200:
            raise ProviderUnavailable(f"{self._name}: the gateway answered HTTP {r.status_code}")
        try:
            answer = from_xml(r.content)
        except (ET.ParseError, ValueError):
            raise ProviderUnavailable(f"{self._name}: the gateway's answer is not XML") from None
        if answer.get("return_code") != "SUCCESS":
            raise ProviderUnavailable(f"{self._name}: the order was refused: {answer.get('return_msg', '')}")
        if not hmac.compare_digest(answer.get("sign", ""), hmac_sign(answer, self._api_key)):
            raise ProviderUnavailable(f"{self._name}: the gateway's answer is not signed by the provider")
        if answer.get("result_code") != "SUCCESS":
            why = f"{answer.get('err_code', '')} {answer.get('err_code_des', '')}".strip()
            raise ProviderUnavailable(f"{self._name}: the order was refused: {why}")
        code_url = answer.get("code_url", "")
        if not code_url:
            raise ProviderUnavailable(f"{self._name}: the answer has no code_url")
        return ProviderOrder(pay_url=code_url)

    def parse_notification(self, content_type: str, body: bytes) -> dict[str, str]:
        try:
            return from_xml(body)
        except (ET.ParseError, ValueError) as exc:
            raise BadNotification(f"the notification cannot be read: {exc}") from None

    def verify_notification(self, fields: Mapping[str, str]) -> Notification:
        sign = fields.get("sign", "")
        if fields.get("sign_type", "HMAC-SHA256") != "HMAC-SHA256":
            raise BadNotification("sign_type must be HMAC-SHA256", code="INVALID_SIGNATURE")
        if not sign or not hmac.compare_digest(sign, hmac_sign(fields, self._api_key)):
            raise BadNotification(f"the notification is not signed by {self._name}", code="INVALID_SIGNATURE")
        if fields.get("return_code") != "SUCCESS":
            raise BadNotification(f"return_code {fields.get('return_code', '')!r}: not a payment result")
        missing = [k for k in REQUIRED if not fields.get(k)]
        if missing:
            raise BadNotification(f"the notification lacks {', '.join(missing)}")
        fee = fields["total_fee"]
        if not fee.isascii() or not fee.isdigit() or len(fee) > 15:
            raise BadNotification(f"total_fee must be whole fen, not {fee!r}")
        paid = fields["result_code"] == "SUCCESS"
        return Notification(
            provider=self._name,
            app_id=fields["appid"],
            merchant_id=fields["mch_id"],
            order_id=fields["out_trade_no"],
            transaction_id=fields["transaction_id"],
            amount=(Decimal(int(fee)) / 100).quantize(FEN),
            status=TradeStatus.PAID if paid else TradeStatus.WAITING,
            raw_status=fields["result_code"],
            paid_at=_time(fields.get("time_end", "")),
        )

    def success_reply(self) -> NotifyReply:
        return NotifyReply(SUCCESS_REPLY, media_type="application/xml")


def _time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=SHANGHAI) if value else None
    except ValueError:
        return None
