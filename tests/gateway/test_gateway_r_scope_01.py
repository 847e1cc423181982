"""R-SCOPE-01: the platform does not manage a partner's end users. After real capability calls through
the whole app (SMS, MMS, voice; a retry, a partial network failure, a refusal, delivery receipts and
status reads), every string and JSON column of every table is scanned: the end-user numbers are found
in the usage records and the per-recipient messages, and nowhere else."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import JSON, String, inspect, select
from sqlalchemy.types import TypeDecorator, TypeEngine

from openability.charging.models import Message
from openability.charging.partitions import is_partition_name
from openability.models import metadata

SMS = "/capabilities/sms/v1/messages"
MMS = "/capabilities/mms/v1/messages"
VOICE = "/capabilities/voice/v1/notifications"

# End users of the partner's own application (national significant numbers; stored as +86…).
DELIVERED = ["13712345678", "15987654321"]
MMS_USER = "18611112222"
VOICE_USER = "17722223333"
FAILED = "13598765432"  # the SMSC is down for this one
REFUSED = "13366667777"  # the partner cannot pay: refused before the network
ALLOWED_TABLES = {"usage_records", "messages"}


def _is_text_or_json(t: TypeEngine[Any]) -> bool:
    if isinstance(t, TypeDecorator):
        t = t.impl_instance
    return isinstance(t, String | JSON)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


async def _where_found(container: Any, needles: list[str]) -> dict[str, set[tuple[str, str]]]:
    """For each needle: the (table, column) cells of string/JSON type that contain it."""
    found: dict[str, set[tuple[str, str]]] = {n: set() for n in needles}
    async with container.uow() as uow:
        for table in metadata.sorted_tables:
            cols = [c for c in table.columns if _is_text_or_json(c.type)]
            if not cols:
                continue
            for row in (await uow.session.execute(select(*cols))).all():
                for col, value in zip(cols, row, strict=True):
                    if value is None:
                        continue
                    cell = _as_text(value)
                    for n in needles:
                        if n in cell:
                            found[n].add((table.name, col.name))
    return found


async def test_r_scope_01_end_user_numbers_only_in_usage_records_and_messages(
    client: httpx.AsyncClient, container: Any, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    numbers = ["+86" + n for n in DELIVERED]
    r = await client.post(
        SMS,
        json=kit.sms(numbers, "您的验证码是 4321，5 分钟内有效。" * 4),
        headers={**world.auth, "Idempotency-Key": "scope-01-sms"},
    )
    assert r.status_code == 201, r.text
    retry = await client.post(
        SMS,
        json=kit.sms(numbers, "您的验证码是 4321，5 分钟内有效。" * 4),
        headers={**world.auth, "Idempotency-Key": "scope-01-sms"},
    )
    assert retry.status_code == 201 and retry.json() == r.json()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    r = await client.post(
        MMS,
        json={
            "to": ["+86" + MMS_USER],
            "subject": "通知",
            "parts": [{"contentType": "image/png", "content": png}],
        },
        headers=world.auth,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        VOICE, json={"to": "+86" + VOICE_USER, "text": "您好", "repeat": 1}, headers=world.auth
    )
    assert r.status_code == 201, r.text
    fakes.sms.fail_for = {"+86" + FAILED}
    r = await client.post(SMS, json=kit.sms(["+86" + FAILED]), headers=world.auth)
    assert r.status_code == 503, r.text
    poor = await kit.make_world(container, balance=Decimal("0.0100"))
    r = await client.post(SMS, json=kit.sms(["+86" + REFUSED]), headers=poor.auth)
    assert r.status_code == 402, r.text

    # Delivery receipts and status reads touch the messages and delivery_receipts tables.
    sink = container.connectors.receipt_sink
    async with container.uow() as uow:
        msgs = (await uow.session.scalars(select(Message))).all()
    for m in msgs:
        for nid in m.network_ids:
            await sink(nid, "DELIVRD", "000")
        path = VOICE if m.capability == "voice" else MMS if m.capability == "mms" else SMS
        g = await client.get(f"{path}/{m.id}", headers=world.auth)
        assert g.status_code == 200, g.text

    # Every table of the database is one the scan knows (none hides outside the models' metadata).
    async with container.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    # (On PostgreSQL usage_records' monthly partitions are tables too: the scan reads them through it.)
    partitions = {t for t in tables if is_partition_name(t)}
    assert tables - {"alembic_version"} - partitions == {t.name for t in metadata.sorted_tables}

    found = await _where_found(container, [*DELIVERED, MMS_USER, VOICE_USER, FAILED, REFUSED])
    for n in [*DELIVERED, MMS_USER, VOICE_USER]:
        # The scan sees each number where R-SCOPE-01 puts it (so finding it nowhere else means something)…
        assert ("usage_records", "recipients") in found[n], (n, found[n])
        assert ("messages", "recipient") in found[n], (n, found[n])
    for n, where in found.items():
        # … and nowhere else: not partners, audit rows, tickets, notifications, payments, logs.
        assert {table for table, _ in where} <= ALLOWED_TABLES, (n, where)
    await assert_ledger_clean()
