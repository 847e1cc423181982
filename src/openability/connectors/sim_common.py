"""What the simulated network elements (MMS centre, voice platform) share: a fail switch, network ids,
and delivery receipts handed to the container's receipt_sink a little after the submission."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from openability.connectors.base import Connectors, NetworkUnavailable

log = logging.getLogger(__name__)


class SimulatedElement:
    kind = "element"
    id_prefix = "SIM"

    def __init__(
        self,
        receipts: Connectors | None = None,
        *,
        receipt_delay: float = 0.05,
        no_answer_suffixes: tuple[str, ...] = ("0000",),
    ) -> None:
        # Read when a receipt arrives: the gateway sets its sink whenever it starts.
        self._receipts = receipts if receipts is not None else Connectors()
        self.receipt_delay = receipt_delay
        self.no_answer_suffixes = no_answer_suffixes
        self.fail = False  # tests flip it: every call raises NetworkUnavailable
        self.submitted: list[dict[str, Any]] = []  # what the element accepted, for tests and demos
        self.receipts: list[tuple[str, str, str]] = []  # (network_id, status, error) handed out
        self._tasks: set[asyncio.Task[None]] = set()
        self._receipt_event = asyncio.Event()

    @property
    def available(self) -> bool:
        return not self.fail

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def check_available(self) -> None:
        if self.fail:
            raise NetworkUnavailable(f"simulated {self.kind} is unavailable")

    def new_network_id(self) -> str:
        return f"{self.id_prefix}{uuid.uuid4().hex[:20].upper()}"

    def unreachable(self, recipient: str) -> bool:
        return recipient.endswith(self.no_answer_suffixes)

    def schedule_receipt(self, network_id: str, status: str, error: str = "000") -> None:
        t = asyncio.create_task(self._receipt(network_id, status, error))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def wait_for_receipts(self, count: int, wait_seconds: float = 5.0) -> list[tuple[str, str, str]]:
        async with asyncio.timeout(wait_seconds):
            while len(self.receipts) < count:
                self._receipt_event.clear()
                await self._receipt_event.wait()
        return list(self.receipts)

    async def _receipt(self, network_id: str, status: str, error: str) -> None:
        if self.receipt_delay > 0:
            await asyncio.sleep(self.receipt_delay)  # the simulated network's delivery delay
        self.receipts.append((network_id, status, error))
        self._receipt_event.set()
        sink = self._receipts.receipt_sink
        if sink is None:
            return
        try:
            await sink(network_id, status, error)
        except Exception:
            log.exception("receipt_sink failed for %s", network_id)
