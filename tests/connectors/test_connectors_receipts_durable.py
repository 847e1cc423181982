"""Delivery receipts are never lost when storing them fails (issue 8, defect 6), through the whole
platform over a real SMPP bind, on SQLite and PostgreSQL: a receipt that can be neither committed nor
spooled is not acknowledged (deliver_sm_resp ESME_RX_T_APPN), the SMSC sends it again, and once the
database is back it is stored and the message is delivered; a receipt the database cannot take but the
spool can is acknowledged after the fsync and replayed into the database when it is back; replaying is
idempotent by network id. And an SMSC's ESME_RTHROTTLED is 503 NETWORK_THROTTLED with Retry-After,
nothing charged."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from openability.charging.models import DeliveryReceipt
from openability.charging.receipts import ReceiptWriter
from openability.connectors.smpp_pdu import ESME_ROK, ESME_RX_T_APPN
from openability.kernel.db import make_engine, make_sessionmaker

URL = "/capabilities/sms/v1/messages"
TO = "+8613800138000"


def _dead_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return "postgresql+asyncpg://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    return f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"


class DatabaseDown:
    """Point the platform at a dead database (a refused port, an unopenable file) until `restore`."""

    def __init__(self, container: Any, backend: str, tmp_path: Path) -> None:
        self.container = container
        self.live = container.engine, container.sessionmaker
        self.dead = make_engine(_dead_url(backend, tmp_path))
        container.engine, container.sessionmaker = self.dead, make_sessionmaker(self.dead)

    async def restore(self) -> None:
        self.container.engine, self.container.sessionmaker = self.live
        await self.dead.dispose()


async def send_sms(p: Any, text: str) -> tuple[str, list[str]]:
    r = await p.client.post(URL, json={"to": [TO], "text": text}, headers=p.world.auth)
    assert r.status_code == 201, r.text
    [item] = r.json()["messages"]
    [part] = [m for m in p.smsc.messages() if m.text == text]
    return item["messageId"], part.message_ids


async def status_of(p: Any, message_id: str) -> str:
    r = await p.client.get(f"{URL}/{message_id}", headers=p.world.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_receipt_neither_stored_nor_spooled_is_not_acknowledged_and_is_stored_after_recovery(
    smpp_platform: Any, backend: str, tmp_path: Path
) -> None:
    p = smpp_platform
    spool_dir = p.gateway.receipts.spool.directory
    spool_dir.parent.mkdir(parents=True, exist_ok=True)
    spool_dir.write_text("not a directory")  # the spool cannot be written either
    p.smsc.receipt_delay = 0.3
    message_id, network_ids = await send_sms(p, "您的验证码是 428193")
    assert await status_of(p, message_id) == "submitted"
    down = DatabaseDown(p.container, backend, tmp_path)
    try:
        answers = await p.smsc.wait_for_receipt_answers(3, wait_seconds=10)
        # While the receipt cannot be made durable the SMSC gets a temporary error, never ESME_ROK.
        assert answers[:3] == [(network_ids[0], ESME_RX_T_APPN)] * 3
        assert p.smsc.receipts_sent == []
        assert p.sms.receipts_refused >= 3 and p.sms.receipts == 0
    finally:
        await down.restore()
    spool_dir.unlink()
    # The SMSC resends; now the receipt is stored, then acknowledged.
    assert await p.smsc.wait_for_receipts(1, wait_seconds=10) == [(network_ids[0], "DELIVRD")]
    assert p.smsc.receipt_answers[-1] == (network_ids[0], ESME_ROK)
    assert await status_of(p, message_id) == "delivered"
    assert p.gateway.receipts.spooled == 0


async def test_receipt_spooled_while_the_database_is_down_is_acknowledged_and_replayed(
    smpp_platform: Any, backend: str, tmp_path: Path
) -> None:
    p = smpp_platform
    writer = p.gateway.receipts
    p.smsc.receipt_delay = 0.3
    sent = [await send_sms(p, f"message {i}") for i in range(3)]
    down = DatabaseDown(p.container, backend, tmp_path)
    try:
        acked = await p.smsc.wait_for_receipts(3, wait_seconds=10)
        # Acknowledged at once, because each receipt was fsynced to the spool first.
        assert sorted(nid for nid, _ in acked) == sorted(ids[0] for _, ids in sent)
        assert all(status == ESME_ROK for _, status in p.smsc.receipt_answers)
        assert writer.spooled == 3
        spooled = [row for f in writer.spool.files() for row in writer.spool.read(f)]
        assert sorted(r[0] for r in spooled) == sorted(ids[0] for _, ids in sent)
    finally:
        await down.restore()
    # Replayed by the writer's replay task (every receipt_spool_replay_seconds) once the database is back.
    for _ in range(200):
        if not writer.spool.files():
            break
        await asyncio.sleep(0.05)
    assert writer.spool.files() == []
    assert writer.replayed == 3
    assert [await status_of(p, mid) for mid, _ in sent] == ["delivered"] * 3


async def test_spool_replay_is_idempotent_by_network_id(container: Any, clock: Any) -> None:
    writer = ReceiptWriter(container)
    t0: datetime = clock.now()
    batch = [("N1", "ENROUTE", "000", t0), ("N2", "DELIVRD", "000", t0)]
    first = writer.spool.append(batch)
    shutil.copy(first, first.with_name("0" + first.name))  # the same batch spooled twice
    clock.advance(seconds=5)
    await writer("N1", "DELIVRD", "000")  # N1's later receipt reached the database directly

    async def stored() -> dict[str, tuple[str, datetime]]:
        async with container.uow() as uow:
            rows = (await uow.session.scalars(select(DeliveryReceipt))).all()
            return {r.network_id: (r.status, r.received_at) for r in rows}

    await writer.start()  # start-up replays what an earlier run spooled
    try:
        expected = {"N1": ("DELIVRD", t0 + timedelta(seconds=5)), "N2": ("DELIVRD", t0)}
        assert await stored() == expected  # the older spooled ENROUTE did not overwrite DELIVRD
        assert writer.spool.files() == [] and writer.replayed == 4
        writer.spool.append(batch)  # replayed again: nothing changes
        assert await writer.replay() == 2
        assert await stored() == expected
        assert await writer.replay() == 0
    finally:
        await writer.stop()


async def test_r_charge_02_throttling_smsc_is_503_with_retry_after_and_charges_nothing(
    smpp_platform: Any, assert_ledger_clean: Any
) -> None:
    p = smpp_platform
    before = await p.world.prepaid_total()
    p.smsc.throttling = True
    r = await p.client.post(URL, json={"to": [TO], "text": "hi"}, headers=p.world.auth)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "NETWORK_THROTTLED" and body["details"]["retryAfter"] == 1
    assert r.headers["retry-after"] == "1"  # smsc_throttle_retry_after_seconds, default 1
    # The connector backs off: a call within the hold is refused the same way without reaching the SMSC.
    r = await p.client.post(URL, json={"to": [TO], "text": "hi again"}, headers=p.world.auth)
    assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (503, "NETWORK_THROTTLED", "1")
    assert p.smsc.throttled == 1 and p.smsc.messages() == []
    # No deduction without a CDR, and none was written (R-CHARGE-02); the reservation went back.
    assert await p.world.prepaid_total() == before
    assert await p.world.cdrs() == []
    await assert_ledger_clean()

    # Other SMSC refusals keep their answer.
    p.smsc.throttling = False
    p.smsc.reject_suffixes = ("9999",)
    await asyncio.sleep(1.05)  # the hold is over
    r = await p.client.post(URL, json={"to": ["+8613800139999"], "text": "x"}, headers=p.world.auth)
    assert (r.status_code, r.json()["code"]) == (503, "SERVICE_UNAVAILABLE")
    r = await p.client.post(URL, json={"to": [TO], "text": "hi"}, headers=p.world.auth)
    assert r.status_code == 201 and r.json()["amountCharged"] == "0.0500"
    assert await p.world.prepaid_total() == before - Decimal("0.0500")
    await assert_ledger_clean()
