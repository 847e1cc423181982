"""Simulated MMS centre (MMSC) behind connectors.base.MmsConnector.

A message is a subject plus parts ``{"content_type": "...", "content": "<base64>"}`` (``contentType``
is accepted as well). Limits follow common operator MMSC profiles: at most 300 KB of decoded content
per message, content types text/plain, image/jpeg, image/png, image/gif. MMS is charged per message
(R-CHARGE-05), so Submitted always has one network id. Recipients ending in 0000 are unreachable: the
MMSC accepts the message and the receipt says UNDELIV; everyone else gets DELIVRD.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from openability.connectors.base import Submitted
from openability.connectors.sim_common import SimulatedElement
from openability.kernel.errors import InvalidArgument

MMS_MAX_BYTES = 300 * 1024
MMS_MAX_PARTS = 20
MMS_MAX_SUBJECT = 40  # characters; OMA MMS conformance recommends 40
MMS_CONTENT_TYPES = frozenset({"text/plain", "image/jpeg", "image/png", "image/gif"})


def validate_mms(subject: str, parts: Sequence[Mapping[str, str]]) -> int:
    """Check an MMS against the MMSC limits; returns the decoded content size in bytes.
    Raises InvalidArgument (400, nothing charged) — the gateway can call it before rating."""
    if len(subject) > MMS_MAX_SUBJECT:
        raise InvalidArgument(f"MMS subject is longer than {MMS_MAX_SUBJECT} characters", code="MMS_INVALID")
    if not parts:
        raise InvalidArgument("an MMS needs at least one part", code="MMS_INVALID")
    if len(parts) > MMS_MAX_PARTS:
        raise InvalidArgument(f"an MMS has at most {MMS_MAX_PARTS} parts", code="MMS_INVALID")
    total = 0
    for i, part in enumerate(parts, start=1):
        ctype = (part.get("content_type") or part.get("contentType") or "").split(";")[0].strip().lower()
        if ctype not in MMS_CONTENT_TYPES:
            allowed = ", ".join(sorted(MMS_CONTENT_TYPES))
            raise InvalidArgument(
                f"MMS part {i}: content type {ctype or '(missing)'!r} is not one of {allowed}",
                code="MMS_INVALID",
            )
        content = part.get("content", "")
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"MMS part {i}: content is not valid base64", code="MMS_INVALID") from None
        total += len(data)
        if total > MMS_MAX_BYTES:
            raise InvalidArgument(f"MMS content exceeds {MMS_MAX_BYTES // 1024} KB", code="MMS_TOO_LARGE")
    return total


class MmsSimulator(SimulatedElement):
    kind = "MMSC"
    id_prefix = "MMS"

    async def submit(self, recipient: str, subject: str, parts: list[dict[str, str]]) -> Submitted:
        self.check_available()
        size = validate_mms(subject, parts)
        network_id = self.new_network_id()
        self.submitted.append(
            {
                "network_id": network_id,
                "recipient": recipient,
                "subject": subject,
                "parts": len(parts),
                "size": size,
            }
        )
        if self.unreachable(recipient):
            self.schedule_receipt(network_id, "UNDELIV", "001")
        else:
            self.schedule_receipt(network_id, "DELIVRD", "000")
        return Submitted(network_ids=[network_id], parts=1, extra={"size": str(size)})
