"""Calls spread over many partners vs. calls of one hot partner, on the same server in the same run.

The world: one partner seeded with the real services (bench/world.py `seed_account`: catalog, AP
registration, order, sandbox top-up, API client, OAuth token), then N - 1 more cloned from it with
set-based inserts (one executemany per table, batched into multi-row INSERTs by the driver): each with
its four accounts, an active sms-standard order, a confirmed sandbox top-up of `world.BALANCE` with its
TOP_UP journal entry (so the ledger audit holds), an API client and a client token.

The load: `wrk -t1` with a Lua script that sends each call with the bearer token of a partner drawn from
a sequence written by Python: uniform over the N partners, or Zipf-distributed (rank k with weight
1 / k^s, the ranks shuffled over the partners). The hot baseline sends every call with the template
partner's token. Ratio = spread req/s ÷ hot req/s. With `pin`, the server runs on CPU 0 and wrk on CPU 1
(taskset), as in the issue's measurement; PostgreSQL is not pinned."""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, update

from bench import wrk
from bench.http_bench import SMS_BODY, SMS_PATH, BenchServer
from bench.world import Account
from bench.wrk import LoadResult

SEQUENCE_LEN = 200_000  # calls drawn in advance; wrk cycles through them
CLONE_CHUNK = 5_000  # partners cloned per round of inserts


async def clone_partners(c: Any, template: Account, n: int) -> list[str]:
    """N - 1 more funded partners like the template, inserted set-wise. Returns all N client tokens
    (the template's first)."""
    from openability.billing.models import Payment
    from openability.catalog.models import ProductOrder
    from openability.kernel.ids import new_id
    from openability.ledger.models import Account as LedgerAccount
    from openability.ledger.models import JournalEntry, JournalLine
    from openability.ledger.types import PLATFORM, AccountType
    from openability.partners.models import AccessToken, ApiClient, Partner

    def table(model: Any) -> Table:
        return model.__table__  # type: ignore[no-any-return]

    tp = template.partner_id
    tokens = [template.token]
    if n <= 1:
        return tokens
    async with c.uow() as uow:
        conn = await uow.session.connection()

        async def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
            t = table(model)
            return [dict(r) for r in (await conn.execute(select(t).where(*where))).mappings().all()]

        partner = (await rows(Partner, table(Partner).c.id == tp))[0]
        accounts = await rows(LedgerAccount, table(LedgerAccount).c.owner_id == tp)
        client = (await rows(ApiClient, table(ApiClient).c.partner_id == tp))[0]
        token = (
            await rows(
                AccessToken, table(AccessToken).c.partner_id == tp, table(AccessToken).c.kind == "client"
            )
        )[0]
        order = (await rows(ProductOrder, table(ProductOrder).c.partner_id == tp))[0]
        payment = (await rows(Payment, table(Payment).c.partner_id == tp))[0]
        entry = (await rows(JournalEntry, table(JournalEntry).c.id == payment["journal_entry_id"]))[0]
        lines = await rows(JournalLine, table(JournalLine).c.entry_id == entry["id"])
        acc_type = {a["id"]: a["type"] for a in accounts}
        cash = (
            await rows(
                LedgerAccount,
                table(LedgerAccount).c.owner_id == PLATFORM,
                table(LedgerAccount).c.type == AccountType.CASH,
            )
        )[0]
        models = (
            (Partner, "partners"),
            (LedgerAccount, "accounts"),
            (ApiClient, "clients"),
            (AccessToken, "tokens"),
            (ProductOrder, "orders"),
            (JournalEntry, "entries"),
            (Payment, "payments"),
            (JournalLine, "lines"),
        )
        assert all(
            acc_type.get(ln["account_id"]) is not None or ln["account_id"] == cash["id"] for ln in lines
        )
        # In chunks of CLONE_CHUNK partners: the rows of 100,000 partners (about 1.2 million dicts)
        # never sit in memory at once.
        for first in range(1, n, CLONE_CHUNK):
            out: dict[str, list[dict[str, Any]]] = {k: [] for _, k in models}
            for i in range(first, min(n, first + CLONE_CHUNK)):
                pid = new_id("prt")
                out["partners"].append({**partner, "id": pid, "name": f"{partner['name']} #{i}"})
                acc_ids = {}
                for a in accounts:
                    acc_ids[a["id"]] = aid = new_id("acc")
                    out["accounts"].append({**a, "id": aid, "owner_id": pid})
                cid = new_id("cli")
                out["clients"].append({**client, "id": cid, "partner_id": pid})
                tok = secrets.token_urlsafe(32)
                tokens.append(tok)
                out["tokens"].append(
                    {
                        **token,
                        "token_hash": hashlib.sha256(tok.encode()).hexdigest(),
                        "subject_id": cid,
                        "partner_id": pid,
                    }
                )
                out["orders"].append({**order, "id": new_id("ord"), "partner_id": pid})
                pay_id, je_id = new_id("pay"), new_id("je")
                out["payments"].append(
                    {**payment, "id": pay_id, "partner_id": pid, "journal_entry_id": je_id}
                )
                out["entries"].append({**entry, "id": je_id, "ref_id": pay_id})
                for ln in lines:
                    acc = acc_ids.get(ln["account_id"], ln["account_id"])  # the platform's cash stays
                    out["lines"].append({"entry_id": je_id, "account_id": acc, "amount": ln["amount"]})
            for model, key in models:
                await conn.execute(table(model).insert(), out[key])
        # The platform's cash account took every clone's top-up (as the template's did).
        cash_delta = sum((ln["amount"] for ln in lines if ln["account_id"] == cash["id"]), Decimal(0)) * (
            n - 1
        )
        t = table(LedgerAccount)
        await conn.execute(update(t).where(t.c.id == cash["id"]).values(balance=t.c.balance + cash_delta))
    return tokens


def sequence(n: int, zipf: float | None, length: int = SEQUENCE_LEN, seed: int = 7) -> list[int]:
    """Partner indexes (0-based) of `length` calls: uniform, or Zipf(s) over ranks shuffled onto the
    partners (so the hottest partner is not always the template)."""
    rnd = random.Random(seed)
    if zipf is None:
        return [rnd.randrange(n) for _ in range(length)]
    ranks = list(range(n))
    rnd.shuffle(ranks)
    weights = [1.0 / (k + 1) ** zipf for k in range(n)]
    return [ranks[k] for k in rnd.choices(range(n), weights=weights, k=length)]


_LUA = """local body = '{body}'
local reqs = {{}}
local seq = {{}}
local i = {start}
init = function(args)
  for line in io.lines("{tokens}") do
    reqs[#reqs + 1] = wrk.format("POST", "{path}", {{
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. line,
    }}, body)
  end
  for line in io.lines("{seq}") do seq[#seq + 1] = tonumber(line) + 1 end
end
request = function()
  i = i + 1
  if i > #seq then i = 1 end
  return reqs[seq[i]]
end
"""


def touch_all(base: str, tokens: Sequence[str], connections: int) -> dict[int, int]:
    """One call per partner (warm-up: every partner's caches, grant and volume block taken once).
    Returns the count of answers by status."""
    import asyncio
    from collections import Counter

    import httpx

    async def run() -> dict[int, int]:
        statuses: Counter[int] = Counter()
        todo = list(tokens)

        async def worker(http: httpx.AsyncClient) -> None:
            while todo:
                tok = todo.pop()
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tok}"}
                for attempt in range(5):
                    try:
                        r = await http.post(SMS_PATH, content=SMS_BODY, headers=headers)
                    except httpx.TransportError:  # a kept-alive connection the server closed
                        if attempt == 4:
                            raise
                        continue
                    statuses[r.status_code] += 1
                    break

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120.0) as http:
            await asyncio.gather(*(worker(http) for _ in range(connections)))
        return dict(statuses)

    return asyncio.run(run())


def measure(
    server: BenchServer,
    name: str,
    tokens: Sequence[str],
    seq: Sequence[int],
    seconds: int,
    connections: int,
    pin: bool,
    start: int = 0,
) -> LoadResult:
    """wrk sending the calls of `seq` from index `start` on (cycling at its end) for `seconds`; the
    result named `name`, with the server's CPU seconds over the run."""
    cpu0 = server.cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="oa-spread-") as tmp:
        tfile, sfile = Path(tmp, "tokens"), Path(tmp, "seq")
        tfile.write_text("\n".join(tokens) + "\n")
        sfile.write_text("\n".join(map(str, seq)) + "\n")
        script = _LUA.format(
            body=SMS_BODY.decode(), tokens=tfile, seq=sfile, path=SMS_PATH, start=start % len(seq)
        )
        res = wrk.run(server.base + SMS_PATH, script, seconds, connections, cpu="1" if pin else None)
    cpu1 = server.cpu_seconds()
    res.route = name
    if cpu0 is not None and cpu1 is not None:
        res.cpu_seconds = cpu1 - cpu0
    return res


@dataclass
class SpreadResult:
    partners: int
    zipf: float | None
    hot: LoadResult
    spread: LoadResult

    @property
    def label(self) -> str:
        dist = "uniform" if self.zipf is None else f"zipf{self.zipf:g}"
        return f"{dist}_{self.partners}"

    @property
    def ratio(self) -> float:
        return self.spread.rps / max(self.hot.rps, 1e-9)


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
