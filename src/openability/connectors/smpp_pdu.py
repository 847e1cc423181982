"""SMPP 3.4 PDUs: the 16-byte header and the bodies the platform and its test SMSC exchange (bind_*,
submit_sm, deliver_sm and their responses, unbind, enquire_link, generic_nack). Pure functions over
bytes, no I/O: connectors/smpp_session.py frames them on a socket.

Field layouts follow SMPP 3.4 §4 (C-Octet Strings are NUL-terminated, Octet Strings length-prefixed by
sm_length); optional parameters (TLVs, §5.3) are kept as raw (tag, value) pairs."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
HEADER_SIZE = HEADER.size
MAX_PDU_SIZE = 64 * 1024  # far above any SMPP 3.4 PDU; a bigger length is a framing error
RESPONSE_BIT = 0x80000000

# command_id (SMPP 3.4 §5.1.2.1)
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015

BIND_COMMANDS = {"RX": BIND_RECEIVER, "TX": BIND_TRANSMITTER, "TRX": BIND_TRANSCEIVER}

# command_status (SMPP 3.4 §5.1.3)
ESME_ROK = 0x00000000
ESME_RINVMSGLEN = 0x00000001
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RSYSERR = 0x00000008
ESME_RINVDSTADR = 0x0000000B
ESME_RBINDFAIL = 0x0000000D
ESME_RINVPASWD = 0x0000000E
ESME_RINVSYSID = 0x0000000F
ESME_RMSGQFUL = 0x00000014
ESME_RTHROTTLED = 0x00000058
ESME_RX_T_APPN = 0x00000064  # ESME receiver temporary app error: the SMSC retries the deliver_sm
ESME_RX_P_APPN = 0x00000065
ESME_RX_R_APPN = 0x00000066

STATUS_NAMES = {
    ESME_ROK: "ESME_ROK",
    ESME_RINVMSGLEN: "ESME_RINVMSGLEN",
    ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
    ESME_RINVCMDID: "ESME_RINVCMDID",
    ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
    ESME_RALYBND: "ESME_RALYBND",
    ESME_RSYSERR: "ESME_RSYSERR",
    ESME_RINVDSTADR: "ESME_RINVDSTADR",
    ESME_RBINDFAIL: "ESME_RBINDFAIL",
    ESME_RINVPASWD: "ESME_RINVPASWD",
    ESME_RINVSYSID: "ESME_RINVSYSID",
    ESME_RMSGQFUL: "ESME_RMSGQFUL",
    ESME_RTHROTTLED: "ESME_RTHROTTLED",
    ESME_RX_T_APPN: "ESME_RX_T_APPN",
    ESME_RX_P_APPN: "ESME_RX_P_APPN",
    ESME_RX_R_APPN: "ESME_RX_R_APPN",
}

INTERFACE_VERSION = 0x34

# TLV tags (SMPP 3.4 §5.3.2)
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_SC_INTERFACE_VERSION = 0x0210


class PduError(ValueError):
    """A PDU that cannot be decoded (the session answers generic_nack or closes)."""


def status_name(status: int) -> str:
    return f"{STATUS_NAMES.get(status, 'ESME_R?')} (0x{status:08X})"


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    command_status: int
    sequence_number: int
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def encode(self) -> bytes:
        return (
            HEADER.pack(
                HEADER_SIZE + len(self.body), self.command_id, self.command_status, self.sequence_number
            )
            + self.body
        )


def read_header(data: bytes) -> tuple[int, int, int, int]:
    length, command_id, status, seq = HEADER.unpack(data)
    if length < HEADER_SIZE or length > MAX_PDU_SIZE:
        raise PduError(f"command_length {length} out of range")
    return length, command_id, status, seq


# ---- body primitives --------------------------------------------------------------------------------


def c_string(value: str, max_len: int) -> bytes:
    """A C-Octet String of at most `max_len` octets including the NUL."""
    raw = value.encode("latin-1", errors="replace")[: max_len - 1]
    return raw + b"\x00"


class BodyReader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.body) - self.pos

    def c_string(self) -> str:
        end = self.body.find(b"\x00", self.pos)
        if end < 0:
            raise PduError("unterminated C-Octet String")
        value = self.body[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def u8(self) -> int:
        if self.remaining < 1:
            raise PduError("body too short")
        v = self.body[self.pos]
        self.pos += 1
        return v

    def octets(self, n: int) -> bytes:
        if self.remaining < n:
            raise PduError("body too short")
        v = self.body[self.pos : self.pos + n]
        self.pos += n
        return v

    def tlvs(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        while self.remaining:
            if self.remaining < 4:
                raise PduError("truncated TLV")
            tag, length = struct.unpack_from(">HH", self.body, self.pos)
            self.pos += 4
            out[tag] = self.octets(length)
        return out


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(v)) + v for tag, v in tlvs.items())


# ---- bind -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def encode(self) -> bytes:
        return (
            c_string(self.system_id, 16)
            + c_string(self.password, 9)
            + c_string(self.system_type, 13)
            + bytes([self.interface_version, self.addr_ton, self.addr_npi])
            + c_string(self.address_range, 41)
        )

    @classmethod
    def decode(cls, body: bytes) -> Bind:
        r = BodyReader(body)
        return cls(r.c_string(), r.c_string(), r.c_string(), r.u8(), r.u8(), r.u8(), r.c_string())


def bind_resp_body(system_id: str) -> bytes:
    return c_string(system_id, 16) + encode_tlvs({TLV_SC_INTERFACE_VERSION: bytes([INTERFACE_VERSION])})


# ---- submit_sm / deliver_sm (the same body, SMPP 3.4 §4.4.1 and §4.6.1) ------------------------------


@dataclass(frozen=True, slots=True)
class ShortMessage:
    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        if len(self.short_message) > 254:
            raise PduError("short_message longer than 254 octets")
        return (
            c_string(self.service_type, 6)
            + bytes([self.source_addr_ton, self.source_addr_npi])
            + c_string(self.source_addr, 21)
            + bytes([self.dest_addr_ton, self.dest_addr_npi])
            + c_string(self.destination_addr, 21)
            + bytes([self.esm_class, self.protocol_id, self.priority_flag])
            + c_string(self.schedule_delivery_time, 17)
            + c_string(self.validity_period, 17)
            + bytes(
                [
                    self.registered_delivery,
                    self.replace_if_present_flag,
                    self.data_coding,
                    self.sm_default_msg_id,
                    len(self.short_message),
                ]
            )
            + self.short_message
            + encode_tlvs(self.tlvs)
        )

    @classmethod
    def decode(cls, body: bytes) -> ShortMessage:
        r = BodyReader(body)
        service_type = r.c_string()
        src_ton, src_npi, src = r.u8(), r.u8(), r.c_string()
        dst_ton, dst_npi, dst = r.u8(), r.u8(), r.c_string()
        esm_class, protocol_id, priority = r.u8(), r.u8(), r.u8()
        schedule, validity = r.c_string(), r.c_string()
        registered, replace, coding, default_id, sm_length = r.u8(), r.u8(), r.u8(), r.u8(), r.u8()
        short_message = r.octets(sm_length)
        return cls(
            source_addr=src,
            destination_addr=dst,
            short_message=short_message,
            service_type=service_type,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered,
            replace_if_present_flag=replace,
            data_coding=coding,
            sm_default_msg_id=default_id,
            tlvs=r.tlvs(),
        )


def message_id_body(message_id: str) -> bytes:
    """submit_sm_resp / deliver_sm_resp body (deliver_sm_resp's message_id is unused: NUL)."""
    return c_string(message_id, 65)


def decode_message_id(body: bytes) -> str:
    """A submit_sm_resp's message_id; '' when the body is empty (SMPP 3.4 §4.4.2: an error response
    may carry no body)."""
    return body.split(b"\x00", 1)[0].decode("latin-1")
