"""Settings: OPENABILITY_* environment variables and an optional `.env` file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PositiveInt = Annotated[int, Field(ge=1)]  # a GC threshold of 0 would turn collection off


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENABILITY_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    # Empty means the embedded default: a SQLite file in data_dir.
    database_url: str = ""
    secret_key: str = "dev-secret-change-me"
    public_url: str = ""

    # Logging (kernel/logs.py), configured by `openability run` for the app and uvicorn alike: JSON
    # lines by default, one object a line with the request's x-correlator as a field, for a log
    # collector; "text" for a person reading a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"

    # Request bodies of the management API, console and /oauth/token (the capability data plane under
    # /capabilities/ has its own limits, gateway/runtime.py). JSON bodies: the data plane's JSON limit.
    # Form bodies (console pages, /oauth/token): room for the longest console text (10,000 characters)
    # percent-encoded, 9 bytes a Chinese character. Multipart uploads (ticket attachments, at most 5 MB
    # each: tickets/attachments.py): the largest file plus the form's other fields.
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_form_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_upload_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)

    # Business settings (RULES.md "Interpretation" values are settings, not constants).
    brand_words: list[str] = Field(default_factory=lambda: ["天翼应用工厂", "电信公司"])
    dispute_threshold_percent: Decimal = Decimal("5")
    # The month's statement calendar (billing/statements.py, days of the month after the billed one,
    # Asia/Shanghai): the `statement-issue` job issues the drafts from 00:00 on statement_issue_day,
    # they must be issued before statement_issue_by_day (R-BILL-03: the 10th); still unissued at 00:00
    # on statement_late_alert_day, operators are alerted; the partner confirms or disputes by the end
    # of statement_confirm_day (R-BILL-04/05: the 15th), after which the rest are deemed confirmed.
    statement_issue_day: int = Field(default=3, ge=1, le=28)
    statement_issue_by_day: int = Field(default=10, ge=2, le=28)
    statement_late_alert_day: int = Field(default=9, ge=1, le=28)
    statement_confirm_day: int = Field(default=15, ge=1, le=28)
    # R-BILL-07 (billing/collections.py): a postpaid statement is paid by the end of this day of the next
    # month (the 26th); a payment notice filed by then defers collection to 00:00 on the 1st, otherwise
    # the unpaid amount is taken from the deposit at its end (00:00 on the 27th).
    statement_payment_day: int = Field(default=26, ge=2, le=28)
    # Invoices (billing/invoices.py, docs/billing.md "Invoices"). Catalog prices are tax-inclusive; an
    # invoice and a statement split them with vat_rate (0.06: value-added telecom services). Prepaid money
    # is invoiced at each confirmed top-up ("top_up") or monthly on the month's consumption ("monthly",
    # the `prepaid-consumption-invoices` job); either way the top-up that opens a pending prepaid SI is
    # invoiced at once (R-BILL-01). The seller's particulars are printed on every invoice.
    vat_rate: Decimal = Field(default=Decimal("0.06"), ge=0, le=Decimal("0.5"), decimal_places=4)
    invoice_prepaid_mode: Literal["top_up", "monthly"] = "top_up"
    invoice_seller_name: str = "能力开放平台运营方"
    invoice_seller_credit_code: str = ""
    invoice_seller_address_phone: str = ""
    invoice_seller_bank_account: str = ""
    min_registered_capital: Decimal = Decimal("1000000")
    # Admission (admission/, docs/admission.md): an uploaded document is at most this size (PDF, PNG or
    # JPEG by content; keep it below max_upload_body_bytes); certificates are watched and their SI
    # notified this many days before they expire (R-ADMIT-01); product-upgrade and bank-account change
    # notices need this lead time (R-OBLIG-02), an interface-contact change this much (R-OBLIG-01).
    admission_max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    certificate_notice_days: int = Field(default=30, ge=1, le=365)
    change_notice_lead_days: int = Field(default=5, ge=0, le=90)
    contact_change_lead_days: int = Field(default=1, ge=0, le=90)
    # R-OBLIG-03, rulebook §8: the standing reports every admitted SI owes, each every N months
    # (**Interpretation:** the rulebook says "periodic"): security check, emergency plan, 7×24 channel.
    standing_reports: dict[str, int] = Field(
        default_factory=lambda: {"security_check": 6, "emergency_plan": 12, "contact_channel": 3}
    )
    calendar_confirmed_years: list[int] = Field(default_factory=lambda: [2024, 2025, 2026])
    sla_pause_while_pending: bool = False
    # R-CS-06: partners whose previous-month volume (units) reaches this are offered packages.
    care_offer_min_monthly_volume: int = 100_000

    # Scheduler: runs the registered jobs (SLA breaches, grant reaper, greetings) inside the platform.
    run_scheduler: bool = True
    scheduler_interval_seconds: float = 5.0
    # A scheduler's claim on a job period lasts this long unless renewed (it renews while the job
    # runs); a claim left by a scheduler that died expires and another scheduler re-runs the period.
    job_lease_seconds: float = 300.0

    # Notifications (notifications/): every notice is in the recipient's console inbox; with
    # smtp_enabled the `notifications-delivery` job also mails it to the partner's contact email or the
    # operator's email. Off by default (the demo `make run` has no mail server). smtp_ssl is implicit
    # TLS (port 465); smtp_starttls upgrades a plain connection (port 587); at most one of them.
    smtp_enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    # SecretStr: never printed by a repr, a log line or the delivery log.
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "openability <noreply@localhost>"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # A failed send is retried after notify_retry_base_seconds, doubling each time up to
    # notify_retry_max_seconds; after notify_max_attempts attempts the notice is given up (its inbox
    # copy stays). A claimed notice whose sender died is retried once its lease has expired.
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_retry_base_seconds: float = Field(default=60.0, gt=0)
    notify_retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
    notify_lease_seconds: float = Field(default=300.0, gt=0)

    # Demo and test installations only (`openability run --demo`, i.e. `make run`, turns both on; a
    # production start leaves them off). The test clock: an admin moves the platform's time forward
    # (POST /api/v1/test/clock, `openability clock set`); off, those answer 404 / refuse.
    test_clock: bool = False
    # Sandbox payments: top-ups paid with a simulated provider (no money moves). Off, the sandbox
    # method is refused (SANDBOX_DISABLED) and not offered; on, it credits a demo balance but never
    # opens a pending SI's service (R-BILL-01: only confirmed real funds do).
    payments_sandbox: bool = False

    # Mark the console's cookies Secure (sent over HTTPS only): set it when the platform is served over
    # HTTPS (directly or behind a TLS-terminating proxy); the demo runs on plain http://127.0.0.1.
    session_cookie_secure: bool = False

    # Login and client-secret throttling (per account or client, and per source address): after
    # `login_max_failures` failures in a row the key is locked for login_lockout_base_seconds, doubling
    # with each further failure up to login_lockout_max_seconds; a success clears the account's count.
    login_max_failures: int = Field(default=5, ge=1)
    login_source_max_failures: int = Field(default=20, ge=1)
    login_lockout_base_seconds: float = Field(default=30.0, gt=0)
    login_lockout_max_seconds: float = Field(default=900.0, gt=0)
    # A key's failures are forgotten this long after its last failure once it is not locked (the daily
    # `login-failures-prune` job deletes them), so the table does not grow with every address ever seen.
    login_failure_retention_hours: int = Field(default=24, ge=1)
    # Password and client-secret hashing runs in this many dedicated threads at most, off the event
    # loop: a burst of logins waits its turn instead of taking the charging path's CPU.
    password_hash_threads: int = Field(default=1, ge=1, le=16)

    # Online payments (billing/providers/). The Alipay-protocol provider ("alipay": RSA2 signatures) is
    # offered once its app id and both key paths are set: the platform's application private key
    # signs the order requests, the provider's public key verifies its answers and its payment
    # notifications (posted to {public_url}/api/v1/payments/notify/alipay, so public_url must be the
    # address the provider reaches). alipay_seller_id, when set, must be the notifications' seller_id.
    alipay_app_id: str = ""
    alipay_seller_id: str = ""
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_private_key_path: Path | None = None
    alipay_public_key_path: Path | None = None
    alipay_timeout_seconds: float = Field(default=10.0, gt=0)
    # The WeChat-Pay-protocol provider ("wechatpay": merchant API v2, HMAC-SHA256 signatures with the
    # merchant's API key) is offered once app id, merchant id and API key are set; notifications go to
    # {public_url}/api/v1/payments/notify/wechatpay.
    wechatpay_app_id: str = ""
    wechatpay_mch_id: str = ""
    wechatpay_api_key: SecretStr = SecretStr("")
    wechatpay_gateway_url: str = "https://api.mch.weixin.qq.com/pay/unifiedorder"
    wechatpay_timeout_seconds: float = Field(default=10.0, gt=0)
    # An online order not paid within this many minutes is closed by the provider.
    payment_order_timeout_minutes: int = Field(default=30, ge=1, le=1440)

    # Gateway / charging.
    token_ttl_seconds: int = 3600
    grant_ttl_seconds: int = 30
    grant_reap_grace_seconds: int = 30
    grant_min_calls: int = 20
    grant_window_seconds: int = 5
    # Month-to-date volume (charging/volume.py, R-CHARGE-06): a worker reserves the month's volume
    # from the database in blocks of about volume_block_window_seconds of the key's observed traffic,
    # at least volume_block_units and at most volume_block_max_units (a call bigger than that gets a
    # block of its own size). One DB round trip per block, not per call; the real-time price is within
    # the blocks the workers hold of the exact price, never above it.
    volume_block_units: int = Field(default=100, ge=1)
    volume_block_max_units: int = Field(default=100_000, ge=1)
    volume_block_window_seconds: float = Field(default=2.0, gt=0)
    cdr_batch_max: int = 300
    # Exactly-once sends (charging/claims.py, charging/spool.py): a copy of a call whose key another
    # worker holds waits this long for its answer (then 409 REQUEST_IN_PROGRESS); answered and failed
    # claims are kept this long (their CDRs keep answering the keys after that).
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    idempotency_claim_retention_hours: int = Field(default=24, ge=1)
    cdr_batch_wait_ms: int = 3
    # When a charged call is answered (docs/charging.md "When a call is answered", R-CHARGE-02):
    # "spool" (the default) once the call's CDR line is fdatasync'ed in the worker's send spool (one
    # sync per group of calls), its database commit following behind the answer; "commit" once the CDR
    # batch is committed in the database (the answer waits a group commit, ~3-9 ms under load). Both
    # charge a sent call exactly once; with "spool" a read of the partner's CDRs or usage right after
    # the answer may not see the call yet (it lands within a batch commit). Without a writable spool
    # (data_dir) a worker waits for the commit whatever this says.
    charge_answer_after: Literal["spool", "commit"] = "spool"
    # Management-API token cache and the grants' "last refusal" memory: a few seconds.
    cache_ttl_seconds: float = 2.0
    # The gateway's caches (client tokens, partners with their active orders, products with their price
    # plans) are invalidated by change events, from every process through the cache_changes feed
    # (kernel/changes.py, polled every change_poll_seconds; 0 turns the poll off); an entry's lifetime
    # is only a safety net. At most gateway_cache_max_entries per cache (least recently used dropped).
    gateway_cache_ttl_seconds: float = Field(default=300.0, gt=0)
    gateway_cache_max_entries: int = Field(default=200_000, ge=100)

    # The garbage collector of a server process (app.py lifespan, docs/benchmarks.md "GC tuning").
    # gc_freeze: what start-up built (modules, routes, mappers, caches) is moved out of the collector's
    # sight once started, so full collections do not rescan it. gc_threshold: the collector's three
    # thresholds (gc.set_threshold), set at the same moment and put back at shutdown: a young
    # collection after gc_threshold[0] more allocations than frees (the interpreter's 700 runs one
    # every few requests), an older one after [1] young ones, a full one after [2] of those.
    gc_freeze: bool = True
    gc_threshold: tuple[PositiveInt, PositiveInt, PositiveInt] = (50_000, 20, 100)
    change_poll_seconds: float = Field(default=1.0, ge=0)
    change_retention_seconds: float = Field(default=3600.0, gt=0)
    max_sms_chars: int = 1000
    max_recipients: int = 100

    # SMSC (SMPP 3.4). `make run` starts a local test SMSC on this port.
    smsc_host: str = "127.0.0.1"
    smsc_port: int = 2775
    smsc_system_id: str = "openability"
    smsc_password: str = "secret"
    smsc_source_addr: str = "10690000"
    smsc_enabled: bool = True
    smsc_timeout_seconds: float = 5.0
    run_test_smsc: bool = True
    # The ESME's enquire_link period (0: none); an unanswered one closes the link, which then re-binds.
    smsc_enquire_link_seconds: float = Field(default=30.0, ge=0)
    # An SMSC's ESME_RTHROTTLED answer: the call is 503 NETWORK_THROTTLED with Retry-After of this many
    # seconds (rounded up, at least 1), nothing charged, and the connector holds its submissions back
    # that long, doubling while the SMSC keeps throttling, up to smsc_throttle_max_seconds.
    smsc_throttle_retry_after_seconds: float = Field(default=1.0, gt=0)
    smsc_throttle_max_seconds: float = Field(default=8.0, gt=0)
    # How long a delivery receipt may wait for its batch to be stored before the SMSC is told to resend
    # it (deliver_sm_resp ESME_RX_T_APPN); SMSCs wait 30-60 s for the answer.
    smsc_receipt_store_timeout_seconds: float = Field(default=10.0, gt=0)
    # Receipts the database could not take are appended (fsynced) to data_dir/receipts-spool and
    # replayed into the database at start-up and every this many seconds (charging/receipts.py).
    receipt_spool_replay_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Settings:
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("smtp_ssl (implicit TLS) and smtp_starttls exclude each other: set one")
        return self

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openability.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
