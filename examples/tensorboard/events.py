"""A TensorBoard event file writer in the standard library only (no TensorFlow, no
tensorboard package): scalars, the one thing the example's training logs.

An event file is a TFRecord file of ``Event`` protocol buffers: each record is its
length (uint64), the masked CRC-32C of the length, the bytes, their masked CRC-32C.
The first event holds the file version; each scalar is an event with a step, a wall
time and a summary value (tag, simple_value).
"""
from __future__ import annotations

import struct
import time

_POLY = 0x82F63B78          # CRC-32C (Castagnoli), reflected
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def _event(wall_time: float, step: int = 0, version: str | None = None,
           tag: str | None = None, value: float = 0.0) -> bytes:
    msg = _field(1, 1, struct.pack("<d", wall_time))            # wall_time: double
    if step:
        msg += _field(2, 0, _varint(step))                      # step: int64
    if version is not None:
        msg += _bytes_field(3, version.encode())                # file_version: string
    if tag is not None:
        val = _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack("<f", value))
        msg += _bytes_field(5, _bytes_field(1, val))            # summary { value { ... } }
    return msg


class EventWriter:
    """Writes the event file ``path`` (its name must hold "tfevents" for TensorBoard to
    read it); ``scalar(tag, value, step)``."""

    def __init__(self, path: str):
        self.file = open(path, "wb")
        self._write(_event(time.time(), version="brain.Event:2"))

    def _write(self, data: bytes):
        header = struct.pack("<Q", len(data))
        self.file.write(header + struct.pack("<I", _masked(header)) + data
                        + struct.pack("<I", _masked(data)))
        self.file.flush()

    def scalar(self, tag: str, value: float, step: int):
        self._write(_event(time.time(), step, tag=tag, value=float(value)))

    def close(self):
        self.file.close()
