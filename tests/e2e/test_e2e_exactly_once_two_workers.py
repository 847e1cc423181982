"""Acceptance: exactly-once sends across two real workers on PostgreSQL (issue 8 defect 1, R-CHARGE-04).

Two platform processes (`uvicorn openability.app:create_app`, one worker each, own ports and data
directories: two nodes) serve the same prepaid AP through the real SMPP connector and the local test
SMSC, which journals every submit_sm it receives. Copies of one call are sent to both at once:

* 16 concurrent calls with one Idempotency-Key, 8 to each worker: the SMSC receives one message, one
  CDR and one charge are stored, and all 16 callers get the same answer (it was 2 messages, 1 CDR);
* one key with two different texts, one to each worker at once, 10 rounds: exactly one text reaches
  the SMSC each round, its caller gets 201 and the other 409 IDEMPOTENCY_KEY_REUSED (both texts were
  delivered and both callers got 201 in 2 of 10 rounds).

And kill -9 between the send and the CDR (R-CHARGE-02): the test holds an EXCLUSIVE lock on
usage_records so worker b's CDR commits wait, sends 5 calls to b (3 with keys, 2 without), waits until
the SMSC has them and b's spool has their 5 lines, kills b with SIGKILL and lets the lock go. b
answers a call once its spool line is synced (the default): the calls it answered before the kill
were answered before their commit, and the replay stands behind those answers. A retry of
a keyed call on worker a is not sent again (409); b started again on its data directory replays its
spool: 5 CDRs for the 5 messages, charged once, and the retry then gets b's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from support_workers import (
    PG_URL,
    admin_sql,
    async_url,
    check_db,
    create_tables,
    free_port,
    seed,
    stop,
    wait_started,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

PRICE = Decimal("0.0500")
URL = "/capabilities/sms/v1/messages"
ROUNDS = 10


def _submits(journal: Path) -> list[str]:
    """The texts of the submit_sm the test SMSC received, in order."""
    if not journal.exists():
        return []
    out = []
    for line in journal.read_bytes().splitlines():
        rec = orjson.loads(line)
        if rec.get("type") == "submit_sm":
            out.append(str(rec.get("text", "")))
    return out


async def _same_key(bases: list[str], token: str) -> list[tuple[int, str]]:
    body = {"to": ["+8613800138000"], "text": "exactly once"}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "e2e-same-key"}
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        rs = await asyncio.gather(
            *(http.post(bases[i % 2] + URL, json=body, headers=headers) for i in range(16))
        )
    return [(r.status_code, r.text) for r in rs]


async def _two_bodies(bases: list[str], token: str, rnd: int) -> list[tuple[int, str]]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"e2e-two-bodies-{rnd}"}
    async with httpx.AsyncClient(timeout=30.0) as http:
        rs = await asyncio.gather(
            http.post(
                bases[0] + URL, json={"to": ["+8613800138000"], "text": f"first {rnd}"}, headers=headers
            ),
            http.post(
                bases[1] + URL, json={"to": ["+8613800138000"], "text": f"second {rnd}"}, headers=headers
            ),
        )
    return [(r.status_code, r.text) for r in rs]


def test_e2e_r_charge_04_copies_across_two_workers_are_sent_once(tmp_path: Path) -> None:
    # R-CHARGE-04
    dbname = "exonce_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {dbname}"))
    url = async_url(PG_URL, dbname)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        create_tables(url)
        partner_id, token = asyncio.run(seed(url, tmp_path / "seed"))
        smsc_port = free_port()
        bases: list[str] = []
        for name in ("a", "b"):
            port = free_port()
            env = {
                **os.environ,
                "OPENABILITY_DATABASE_URL": url,
                "OPENABILITY_DATA_DIR": str(tmp_path / f"data-{name}"),
                "OPENABILITY_RUN_TEST_SMSC": "true",
                "OPENABILITY_SMSC_ENABLED": "true",
                "OPENABILITY_SMSC_PORT": str(smsc_port),
                "OPENABILITY_PORT": str(port),
            }
            env.pop("OPENABILITY_TEST_DATABASE_URL", None)
            log = tmp_path / f"server-{name}.log"
            cmd = [
                sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            ]  # fmt: skip
            with log.open("wb") as fh:
                procs[name] = subprocess.Popen(
                    cmd, cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
                )
            bases.append(f"http://127.0.0.1:{port}")
            wait_started(procs[name], log, bases[-1], workers=1)
        journal = tmp_path / "data-a" / "smsc-received.jsonl"  # worker a runs the test SMSC

        # 16 copies of one call, 8 on each worker
        answers = asyncio.run(_same_key(bases, token))
        assert {s for s, _ in answers} == {201}, answers
        assert len({orjson.loads(t)["requestId"] for _, t in answers}) == 1
        assert len({t for _, t in answers}) == 1, "every caller gets the same answer"
        assert _submits(journal) == ["exactly once"]

        # one key, two bodies, one on each worker at once
        outcomes: Counter[str] = Counter()
        for rnd in range(ROUNDS):
            before = len(_submits(journal))
            (s1, t1), (s2, t2) = asyncio.run(_two_bodies(bases, token, rnd))
            assert sorted((s1, s2)) == [201, 409], (rnd, s1, t1, s2, t2)
            loser = t1 if s1 == 409 else t2
            assert orjson.loads(loser)["code"] == "IDEMPOTENCY_KEY_REUSED", loser
            winner_text = f"first {rnd}" if s1 == 201 else f"second {rnd}"
            assert _submits(journal)[before:] == [winner_text], rnd
            outcomes["a" if s1 == 201 else "b"] += 1
        print(f"two bodies: the winner per worker {dict(outcomes)}")

        for name in ("a", "b"):
            rc = stop(procs[name])
            log_text = (tmp_path / f"server-{name}.log").read_text(errors="replace")
            assert rc in (0, -signal.SIGTERM) and "Application shutdown complete" in log_text, log_text[
                -4000:
            ]
            assert "Traceback" not in log_text, log_text[-4000:]
        db = asyncio.run(check_db(url, partner_id))
        sent = 1 + ROUNDS
        assert len(_submits(journal)) == sent
        assert db["cdrs"] == sent, db
        assert db["charged"] == sent * PRICE, db
        assert db["paid"] - db["available"] == db["charged"], db
        assert db["reserved"] == 0 and db["open_grants"] == 0, db
        assert db["audit"] == [], db["audit"]
    finally:
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))


def _spool_lines(spool: Path) -> int:
    if not spool.is_dir():
        return 0
    return sum(len(p.read_bytes().splitlines()) for p in spool.glob("*.jsonl"))


def _node(
    tmp_path: Path, name: str, url: str, smsc_port: int, log_name: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "OPENABILITY_DATABASE_URL": url,
        "OPENABILITY_DATA_DIR": str(tmp_path / f"data-{name}"),
        "OPENABILITY_RUN_TEST_SMSC": "true",
        "OPENABILITY_SMSC_ENABLED": "true",
        "OPENABILITY_SMSC_PORT": str(smsc_port),
        "OPENABILITY_PORT": str(port),
        "OPENABILITY_IDEMPOTENCY_WAIT_SECONDS": "1",
    }
    env.pop("OPENABILITY_TEST_DATABASE_URL", None)
    log = tmp_path / log_name
    cmd = [
        sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    wait_started(proc, log, base, workers=1)
    return proc, base


async def _kill_between_send_and_cdr(
    tmp_path: Path, url: str, token: str, procs: dict[str, subprocess.Popen[bytes]], bases: dict[str, str]
) -> dict[str, object]:
    from sqlalchemy.ext.asyncio import create_async_engine

    journal = tmp_path / "data-a" / "smsc-received.jsonl"
    spool = tmp_path / "data-b" / "spool"
    sent_before = len(_submits(journal))
    locker = create_async_engine(url)
    conn = await locker.connect()
    trans = await conn.begin()
    await conn.exec_driver_sql("LOCK TABLE usage_records IN EXCLUSIVE MODE")  # CDR inserts wait
    bodies = [({"Idempotency-Key": f"kill-{i}"} if i < 3 else {}, f"killed {i}") for i in range(5)]
    async with httpx.AsyncClient(timeout=60.0) as http:
        calls = [
            asyncio.create_task(
                http.post(
                    bases["b"] + URL,
                    json={"to": ["+8613800138000"], "text": text},
                    headers={"Authorization": f"Bearer {token}", **key},
                )
            )
            for key, text in bodies
        ]
        for _ in range(200):  # sent and journaled: only then is b killed
            if len(_submits(journal)) - sent_before == 5 and _spool_lines(spool) >= 5:
                break
            await asyncio.sleep(0.05)
        sent = len(_submits(journal)) - sent_before
        lines = _spool_lines(spool)
        os.killpg(procs["b"].pid, signal.SIGKILL)
        procs["b"].wait(5)
        answers = await asyncio.gather(*calls, return_exceptions=True)
    await trans.rollback()
    await conn.close()
    await locker.dispose()
    async with httpx.AsyncClient(timeout=30.0) as http:
        h = {"Authorization": f"Bearer {token}", "Idempotency-Key": "kill-0"}
        body = {"to": ["+8613800138000"], "text": "killed 0"}
        retry = await http.post(bases["a"] + URL, json=body, headers=h)
        sent_after_retry = len(_submits(journal)) - sent_before
        procs["b"], bases["b"] = _node(tmp_path, "b", url, _smsc_port(tmp_path), "server-b2.log")
        replayed = await http.post(bases["a"] + URL, json=body, headers=h)
    return {
        "sent": sent,
        "spool_lines": lines,
        "answered_before_kill": sum(1 for a in answers if isinstance(a, httpx.Response)),
        "answers": [(a.status_code, a.json()) for a in answers if isinstance(a, httpx.Response)],
        "answer_0": answers[0].json() if isinstance(answers[0], httpx.Response) else None,
        "retry": (retry.status_code, retry.json().get("code")),
        "sent_after_retry": sent_after_retry,
        "replayed": (replayed.status_code, replayed.headers.get("idempotent-replayed")),
        "replayed_body": replayed.json(),
    }


def _smsc_port(tmp_path: Path) -> int:
    return int((tmp_path / "smsc-port").read_text())


def test_e2e_r_charge_02_kill_9_between_send_and_cdr_is_charged_once_and_not_sent_again(
    tmp_path: Path,
) -> None:
    # R-CHARGE-02 R-CHARGE-04
    dbname = "exkill_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {dbname}"))
    url = async_url(PG_URL, dbname)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        create_tables(url)
        partner_id, token = asyncio.run(seed(url, tmp_path / "seed"))
        smsc_port = free_port()
        (tmp_path / "smsc-port").write_text(str(smsc_port))
        bases: dict[str, str] = {}
        for name in ("a", "b"):
            procs[name], bases[name] = _node(tmp_path, name, url, smsc_port, f"server-{name}.log")
        journal = tmp_path / "data-a" / "smsc-received.jsonl"
        out = asyncio.run(_kill_between_send_and_cdr(tmp_path, url, token, procs, bases))
        print(f"kill -9: {out}")
        assert out["sent"] == 5, out
        # Answered once its spool line is synced (settings.charge_answer_after = "spool", the
        # default): b may have answered some calls before the kill, none of them committed. Each
        # answer given is a 201 the replayed CDR stands behind (the same body for kill-0).
        assert all(status == 201 for status, _ in out["answers"]), out  # type: ignore[attr-defined]
        assert out["retry"] == (409, "REQUEST_IN_PROGRESS"), out  # b's claim: not sent again
        assert out["sent_after_retry"] == 5, out
        assert out["spool_lines"] == 5, out
        assert out["replayed"] == (201, "true"), out  # b's replayed CDR answers the key
        body = out["replayed_body"]
        assert (
            isinstance(body, dict) and body["requestId"] == "kill-0" and body["amountCharged"] == str(PRICE)
        )
        assert out["answer_0"] in (None, body), out  # b's answer before the kill, if any, is the CDR's
        for name in ("a", "b"):
            rc = stop(procs[name])
            assert rc in (0, -signal.SIGTERM), rc
        assert len(_submits(journal)) == 5
        db = asyncio.run(check_db(url, partner_id))
        assert db["cdrs"] == 5, db  # every delivered message has its CDR
        assert db["charged"] == 5 * PRICE, db
        # The killed worker's grant stays open until the reaper (60 s); the money adds up meanwhile.
        assert db["paid"] - db["available"] - db["reserved"] == db["charged"], db
        assert db["audit"] == [], db["audit"]
        assert not list((tmp_path / "data-b" / "spool").glob("*.jsonl"))  # replayed and removed
        assert "Traceback" not in (tmp_path / "server-b2.log").read_text(errors="replace")
    finally:
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
