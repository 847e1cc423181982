"""Simulated voice-notification platform (TTS call-out) behind connectors.base.VoiceConnector.

Call-time model (documented, deterministic so tests and bills agree): the platform rings for 3 s,
then reads the text `repeat` times with text-to-speech at 4 characters per second (a typical Mandarin
TTS rate, ~240 characters a minute): ``duration = 3 + ceil(len(text) * repeat / 4)`` seconds. Voice is
charged per started minute of that call time (R-CHARGE-05, see ``billable_minutes``). Recipients ending
in 0000 do not answer: no call time (duration 0) and a NO_ANSWER receipt; others get ANSWERED.
"""

from __future__ import annotations

from openability.connectors.base import Submitted
from openability.connectors.sim_common import SimulatedElement
from openability.kernel.errors import InvalidArgument

RING_SECONDS = 3
TTS_CHARS_PER_SECOND = 4
MAX_REPEAT = 5
MAX_TEXT = 500


def call_duration_seconds(text: str, repeat: int) -> int:
    return RING_SECONDS + -(-len(text) * repeat // TTS_CHARS_PER_SECOND)


def billable_minutes(duration_seconds: int) -> int:
    """Started minutes of call time: 1-60 s -> 1, 61 s -> 2, 0 s -> 0."""
    return -(-max(duration_seconds, 0) // 60)


def validate_call(text: str, repeat: int) -> None:
    if not text.strip():
        raise InvalidArgument("voice notification text is empty", code="VOICE_INVALID")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(
            f"voice notification text is longer than {MAX_TEXT} characters", code="VOICE_INVALID"
        )
    if not 1 <= repeat <= MAX_REPEAT:
        raise InvalidArgument(f"repeat must be between 1 and {MAX_REPEAT}", code="VOICE_INVALID")


class VoiceSimulator(SimulatedElement):
    kind = "voice platform"
    id_prefix = "VOC"

    async def call(self, recipient: str, text: str, repeat: int) -> Submitted:
        self.check_available()
        validate_call(text, repeat)
        network_id = self.new_network_id()
        answered = not self.unreachable(recipient)
        duration = call_duration_seconds(text, repeat) if answered else 0
        self.submitted.append(
            {"network_id": network_id, "recipient": recipient, "repeat": repeat, "duration_seconds": duration}
        )
        self.schedule_receipt(
            network_id, "ANSWERED" if answered else "NO_ANSWER", "000" if answered else "001"
        )
        return Submitted(
            network_ids=[network_id],
            parts=1,
            duration_seconds=duration,
            extra={"outcome": "ANSWERED" if answered else "NO_ANSWER"},
        )
