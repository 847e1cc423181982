"""A fake online payment provider server for the online payment tests: one Starlette app, served by
uvicorn on a free port, speaking the Alipay open-platform protocol (its own RSA key pair; it verifies
the platform's RSA2-signed order requests with the platform's public key) and WeChat Pay's merchant
API v2 (HMAC-SHA256 with the merchant's API key). It records the orders it opened and, when a test
"pays" one, posts the signed notification to the notify URL the order named, through the client the
test gives it (the platform in-process)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openability.billing.providers.wechat_like import from_xml, hmac_sign, to_xml
from openability.config import Settings

ALIPAY_APP_ID = "2021000000000001"
ALIPAY_SELLER_ID = "2088000000000001"
WECHAT_APP_ID = "wx0000000000000001"
WECHAT_MCH_ID = "1900000001"
WECHAT_KEY = "k" * 32


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def rsa2(key: rsa.RSAPrivateKey, content: str) -> str:
    return base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def pairs(params: dict[str, str], exclude: set[str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v != "")


@dataclass
class Order:
    provider: str
    out_trade_no: str
    amount: str  # as the provider got it: "100.00" (alipay) or fen "10000" (wechat)
    notify_url: str
    trade_no: str


class FakeProviders:
    def __init__(self, platform_public_key: rsa.RSAPublicKey) -> None:
        self.platform_public_key = platform_public_key
        self.alipay_key = new_key()  # the provider's own pair: signs answers and notifications
        self.orders: dict[str, Order] = {}
        self.refused_requests: list[str] = []
        self.notifier: httpx.AsyncClient | None = None
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/alipay/gateway.do", self._alipay_gateway, methods=["POST"]),
                Route("/wechat/pay/unifiedorder", self._wechat_unifiedorder, methods=["POST"]),
            ]
        )

    # ---- the provider's side of order creation ----

    async def _alipay_gateway(self, request: Request) -> Response:
        params = {k: str(v) for k, v in (await request.form()).items()}
        sign = params.get("sign", "")
        try:
            self.platform_public_key.verify(
                base64.b64decode(sign), pairs(params, {"sign"}).encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            ok = params.get("app_id") == ALIPAY_APP_ID and params.get("method") == "alipay.trade.precreate"
        except Exception:
            ok = False
        if not ok:
            self.refused_requests.append("alipay")
            body = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
            return self._alipay_answer(body)
        biz = json.loads(params["biz_content"])
        no = biz["out_trade_no"]
        self.orders[no] = Order("alipay", no, biz["total_amount"], params["notify_url"], self._trade_no())
        return self._alipay_answer(
            {"code": "10000", "msg": "Success", "out_trade_no": no, "qr_code": f"https://qr.fake/alipay/{no}"}
        )

    def _alipay_answer(self, body: dict[str, str]) -> Response:
        part = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        text = f'{{"alipay_trade_precreate_response":{part},"sign":"{rsa2(self.alipay_key, part)}"}}'
        return Response(text, media_type="application/json;charset=utf-8")

    async def _wechat_unifiedorder(self, request: Request) -> Response:
        params = from_xml(await request.body())
        if params.get("sign") != hmac_sign(params, WECHAT_KEY) or params.get("mch_id") != WECHAT_MCH_ID:
            self.refused_requests.append("wechat")
            return Response(to_xml({"return_code": "FAIL", "return_msg": "签名错误"}), media_type="text/xml")
        no = params["out_trade_no"]
        self.orders[no] = Order("wechatpay", no, params["total_fee"], params["notify_url"], self._trade_no())
        answer = {
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "appid": WECHAT_APP_ID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": secrets.token_hex(8),
            "prepay_id": "wx" + secrets.token_hex(8),
            "trade_type": "NATIVE",
            "code_url": f"weixin://wxpay/bizpayurl?pr={no}",
        }
        answer["sign"] = hmac_sign(answer, WECHAT_KEY)
        return Response(to_xml(answer), media_type="text/xml")

    @staticmethod
    def _trade_no() -> str:
        return "2026" + secrets.token_hex(10)

    # ---- the provider's notifications ----

    def alipay_fields(self, order_id: str, **change: str) -> dict[str, str]:
        """A paid notification for the order, signed by the provider; `change` before signing."""
        o = self.orders.get(order_id)
        fields = {
            "notify_time": "2026-11-02 10:05:00",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": ALIPAY_APP_ID,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": o.trade_no if o else self._trade_no(),
            "out_trade_no": order_id,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": o.amount if o else "100.00",
            "receipt_amount": o.amount if o else "100.00",
            "seller_id": ALIPAY_SELLER_ID,
            "gmt_payment": "2026-11-02 10:04:59",
            "subject": "预付充值 top-up",
        } | change
        return self.sign_alipay(fields)

    def sign_alipay(self, fields: dict[str, str], key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        fields = {k: v for k, v in fields.items() if k not in ("sign", "sign_type")}
        return fields | {"sign_type": "RSA2", "sign": rsa2(key or self.alipay_key, pairs(fields, set()))}

    def wechat_fields(self, order_id: str, key: str = WECHAT_KEY, **change: str) -> dict[str, str]:
        o = self.orders.get(order_id)
        fields = {
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "appid": WECHAT_APP_ID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": secrets.token_hex(8),
            "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "trade_type": "NATIVE",
            "bank_type": "CMC",
            "total_fee": o.amount if o else "10000",
            "cash_fee": o.amount if o else "10000",
            "transaction_id": o.trade_no if o else self._trade_no(),
            "out_trade_no": order_id,
            "time_end": "20261102100459",
        } | change
        return fields | {"sign": hmac_sign(fields, key)}

    async def notify(
        self, provider: str, fields: dict[str, str], order_id: str | None = None
    ) -> httpx.Response:
        """Post a notification as the provider does: Alipay a form, WeChat Pay an XML document, to the
        notify URL its order named (for another provider's order: this provider's URL on the platform)."""
        assert self.notifier is not None, "set .notifier to a client of the platform"
        o = self.orders.get(order_id or fields.get("out_trade_no", ""))
        mine = o is not None and o.provider == provider
        path = urlsplit(o.notify_url).path if o and mine else f"/api/v1/payments/notify/{provider}"
        if provider == "alipay":
            return await self.notifier.post(path, data=fields)
        return await self.notifier.post(
            path, content=to_xml(fields).encode(), headers={"Content-Type": "text/xml"}
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(fake: FakeProviders) -> AsyncIterator[str]:
    """The fake provider served by uvicorn on a free local port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # readiness, not timing: the socket is listening once started
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        fake.base_url = f"http://127.0.0.1:{port}"
        yield fake.base_url
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def started(key_dir: Path) -> AsyncIterator[FakeProviders]:
    """A fake provider server with fresh keys: the platform's private key and the provider's public
    key are written to key_dir, where `configure` points the settings."""
    platform_key = new_key()
    (key_dir / "app_private_key.pem").write_bytes(pem_private(platform_key))
    fake = FakeProviders(platform_key.public_key())
    (key_dir / "alipay_public_key.pem").write_bytes(pem_public(fake.alipay_key.public_key()))
    async with serving(fake):
        yield fake


def configure(settings: Settings, fake: FakeProviders, key_dir: Path) -> Settings:
    """Both providers offered, their gateways the fake server, notifications to the platform."""
    settings.public_url = "https://pay.platform.example"
    settings.alipay_app_id = ALIPAY_APP_ID
    settings.alipay_seller_id = ALIPAY_SELLER_ID
    settings.alipay_gateway_url = f"{fake.base_url}/alipay/gateway.do"
    settings.alipay_private_key_path = key_dir / "app_private_key.pem"
    settings.alipay_public_key_path = key_dir / "alipay_public_key.pem"
    settings.wechatpay_app_id = WECHAT_APP_ID
    settings.wechatpay_mch_id = WECHAT_MCH_ID
    settings.wechatpay_api_key = SecretStr(WECHAT_KEY)
    settings.wechatpay_gateway_url = f"{fake.base_url}/wechat/pay/unifiedorder"
    return settings


__all__: list[Any] = ["FakeProviders", "configure", "serving", "started"]
