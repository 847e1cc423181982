"""Online payment providers, built from settings: a provider is offered once it is configured.

`configured(settings)` lists them by name (the `provider` of a payment and the path segment of its
notify URL); `get(settings, name)` is the one a payment or a notification names. Keys are read from
their files when the provider is built (cached while the file is unchanged), so a rotated key is
picked up without a restart."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from openability.billing.providers.alipay_like import AlipayLikeProvider, load_private_key, load_public_key
from openability.billing.providers.base import PaymentProvider, ProviderUnavailable
from openability.billing.providers.wechat_like import WechatLikeProvider
from openability.config import Settings
from openability.kernel.errors import RuleViolation

ALIPAY = "alipay"
WECHATPAY = "wechatpay"


@lru_cache(maxsize=16)
def _private(path: str, _mtime_ns: int) -> rsa.RSAPrivateKey:
    return load_private_key(Path(path))


@lru_cache(maxsize=16)
def _public(path: str, _mtime_ns: int) -> rsa.RSAPublicKey:
    return load_public_key(Path(path))


def _stamp(path: Path) -> tuple[str, int]:
    p = path.expanduser().resolve()
    return str(p), p.stat().st_mtime_ns


def _alipay_ready(settings: Settings) -> bool:
    return bool(
        settings.alipay_app_id and settings.alipay_private_key_path and settings.alipay_public_key_path
    )


def _alipay(settings: Settings) -> PaymentProvider | None:
    priv, pub = settings.alipay_private_key_path, settings.alipay_public_key_path
    if not (_alipay_ready(settings) and priv and pub):
        return None
    return AlipayLikeProvider(
        name=ALIPAY,
        app_id=settings.alipay_app_id,
        merchant_id=settings.alipay_seller_id,
        gateway_url=settings.alipay_gateway_url,
        private_key=_private(*_stamp(priv)),
        provider_public_key=_public(*_stamp(pub)),
        timeout_seconds=settings.alipay_timeout_seconds,
    )


def _wechatpay(settings: Settings) -> PaymentProvider | None:
    key = settings.wechatpay_api_key.get_secret_value()
    if not (settings.wechatpay_app_id and settings.wechatpay_mch_id and key):
        return None
    return WechatLikeProvider(
        name=WECHATPAY,
        app_id=settings.wechatpay_app_id,
        merchant_id=settings.wechatpay_mch_id,
        api_key=key,
        gateway_url=settings.wechatpay_gateway_url,
        timeout_seconds=settings.wechatpay_timeout_seconds,
    )


def configured(settings: Settings) -> list[str]:
    """The names of the providers this installation offers."""
    names = [ALIPAY] if _alipay_ready(settings) else []
    if _wechatpay(settings) is not None:
        names.append(WECHATPAY)
    return names


def get(settings: Settings, name: str) -> PaymentProvider:
    try:
        provider = (
            _alipay(settings) if name == ALIPAY else _wechatpay(settings) if name == WECHATPAY else None
        )
    except (OSError, ValueError) as exc:
        # A key file missing or not a key: a set-up error, told as the provider being unavailable.
        raise ProviderUnavailable(f"payment provider {name!r}: its key cannot be read ({exc})") from None
    if provider is None:
        offered = ", ".join(configured(settings)) or "none"
        raise RuleViolation(
            f"payment provider {name!r} is not offered here (offered: {offered})", code="UNKNOWN_PROVIDER"
        )
    return provider


def notify_url(settings: Settings, name: str) -> str:
    return f"{settings.base_url.rstrip('/')}/api/v1/payments/notify/{name}"
