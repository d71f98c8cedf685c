"""Small real JPEG pictures for the simulated cameras' snapshots, with no imaging library.

A baseline JPEG (ITU T.81) in grey, drawn in 8x8 blocks of one shade each: a block of one shade
has only a DC coefficient, so the encoder needs no DCT, only the DC differences, their Huffman
codes (the standard luminance table of T.81 Annex K) and an end-of-block code. That is enough to
draw a frame counter in large digits, so that every snapshot differs from the one before.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

BLOCK: Final = 8
# T.81 Table K.3: the luminance DC code lengths (how many codes of 1..16 bits) and symbols.
DC_BITS: Final = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
DC_SYMBOLS: Final = tuple(range(12))
# The AC table needs one symbol only: end of block (0x00), coded as a single 0 bit.
AC_BITS: Final = (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
AC_SYMBOLS: Final = (0x00,)
# 3x5 digits, a row a string: the frame counter is drawn with these, one block per dot.
DIGITS: Final = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
}


def _codes(bits: Sequence[int], symbols: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes (T.81 Annex C): symbol -> (code, length)."""
    codes: dict[int, tuple[int, int]] = {}
    code, index = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[symbols[index]] = (code, length)
            code, index = code + 1, index + 1
        code <<= 1
    return codes


DC_CODES: Final = _codes(DC_BITS, DC_SYMBOLS)
AC_CODES: Final = _codes(AC_BITS, AC_SYMBOLS)


class _Bits:
    """The entropy-coded segment: bits packed MSB first, 0xFF stuffed with 0x00."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._byte = 0
        self._count = 0

    def put(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._byte = (self._byte << 1) | ((value >> shift) & 1)
            self._count += 1
            if self._count == 8:
                self._flush()

    def _flush(self) -> None:
        self.data.append(self._byte)
        if self._byte == 0xFF:
            self.data.append(0x00)
        self._byte, self._count = 0, 0

    def end(self) -> bytes:
        if self._count:  # pad the last byte with 1 bits
            self.put((1 << (8 - self._count)) - 1, 8 - self._count)
        return bytes(self.data)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def encode(shades: Sequence[Sequence[int]]) -> bytes:
    """A grey baseline JPEG of rows of blocks, each an 8x8 square of one shade (0-255)."""
    height, width = len(shades) * BLOCK, len(shades[0]) * BLOCK
    bits = _Bits()
    previous = 0
    for row in shades:
        for shade in row:
            # With a quantizer of 1, the DC coefficient of a flat block is 8 * (shade - 128).
            dc = 8 * (min(max(shade, 0), 255) - 128)
            diff, previous = dc - previous, dc
            size = abs(diff).bit_length()
            bits.put(*DC_CODES[size])
            if size:
                bits.put(diff if diff > 0 else diff + (1 << size) - 1, size)
            bits.put(*AC_CODES[0x00])
    tables = b"".join(
        _segment(0xC4, bytes([kind]) + bytes(counts) + bytes(symbols))
        for kind, counts, symbols in ((0x00, DC_BITS, DC_SYMBOLS), (0x10, AC_BITS, AC_SYMBOLS))
    )
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xDB, b"\x00" + bytes([1] * 64)),
        _segment(0xC0, struct.pack(">BHHBBBB", 8, height, width, 1, 1, 0x11, 0)),
        tables,
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        bits.end(),
        b"\xff\xd9",
    ])


def frame(counter: int, columns: int = 40, rows: int = 30, scale: int = 2) -> bytes:
    """A picture of the counter in white digits; the background shade changes with it too."""
    background = 40 + (counter * 37) % 120
    shades = [[background] * columns for _ in range(rows)]
    text = str(counter)
    left = max((columns - len(text) * 4 * scale) // 2, 0)
    top = max((rows - 5 * scale) // 2, 0)
    for place, digit in enumerate(text):
        for y, line in enumerate(DIGITS[digit]):
            for x, dot in enumerate(line):
                if dot != "#":
                    continue
                for dy in range(scale):
                    for dx in range(scale):
                        row = top + y * scale + dy
                        column = left + (place * 4 + x) * scale + dx
                        if row < rows and column < columns:
                            shades[row][column] = 255
    return encode(shades)
