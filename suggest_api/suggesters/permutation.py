"""A seeded bijection of range(size), computed one element at a time.

A shuffled grid must give trial k the same point on every worker without storing a shuffled list
(a grid may have billions of points), so the order is a keyed permutation evaluated on demand: a
balanced Feistel network over the smallest even-bit power of two that holds `size`, walked in cycles
until it lands back inside range(size). The domain is less than 4 * size, so a walk takes fewer than
four steps on average.
"""

from __future__ import annotations

import hashlib

#: Luby and Rackoff: four rounds of a pseudorandom function make a strong pseudorandom permutation.
ROUNDS = 4
_DIGEST_BITS = 512  # one blake2b digest


class SeededPermutation:
    """`perm(x)` for x in range(size) is a permutation of range(size) fixed by `seed`; `perm.inverse` undoes it."""

    __slots__ = ("_blocks", "_half", "_mask", "_seed", "size")

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"a permutation needs at least one element, got size {size}")
        self.size = size
        self._seed = seed
        bits = max(2, (size - 1).bit_length())
        self._half = (bits + 1) // 2
        self._mask = (1 << self._half) - 1
        self._blocks = -(-self._half // _DIGEST_BITS)

    def __call__(self, x: int) -> int:
        self._check(x)
        x = self._encrypt(x)
        while x >= self.size:  # cycle walking: x's cycle holds x itself, so this ends inside the range
            x = self._encrypt(x)
        return x

    def inverse(self, y: int) -> int:
        """The x with perm(x) == y."""
        self._check(y)
        y = self._decrypt(y)
        while y >= self.size:
            y = self._decrypt(y)
        return y

    def _check(self, x: int) -> None:
        if not 0 <= x < self.size:
            raise IndexError(f"{x} is outside range({self.size})")

    def _round(self, round_: int, half: int) -> int:
        """The round function: blake2b of (seed, round, half), as many bits as a half holds."""
        data = f"{self._seed}:{round_}:{half}".encode()
        digest = b"".join(hashlib.blake2b(data, salt=block.to_bytes(16, "little")).digest()
                          for block in range(self._blocks))
        return int.from_bytes(digest, "little") & self._mask

    def _encrypt(self, x: int) -> int:
        left, right = x >> self._half, x & self._mask
        for round_ in range(ROUNDS):
            left, right = right, left ^ self._round(round_, right)
        return (left << self._half) | right

    def _decrypt(self, y: int) -> int:
        left, right = y >> self._half, y & self._mask
        for round_ in reversed(range(ROUNDS)):
            left, right = right ^ self._round(round_, left), left
        return (left << self._half) | right
