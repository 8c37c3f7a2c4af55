"""Identifier construction: realistic-looking, unique, vectorised."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen import config

_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)


def random_ids(rng: np.random.Generator, n: int, prefix: str, length: int) -> pa.Array:
    """``n`` distinct ids ``prefix`` + ``length`` url-safe chars; the last 5 chars encode the row
    number (base 64), which makes the ids unique for up to 64**5 (~1e9) rows."""
    n_rand = length - 5
    chars = np.empty((n, length), dtype=np.uint8)
    chars[:, :n_rand] = _ALPHABET[rng.integers(0, 64, size=(n, n_rand))]
    # an odd multiplier and an offset make row number -> code a bijection modulo 64**5
    code = (np.arange(n, dtype=np.int64) * 0x2F0AB39 + int(rng.integers(0, 64**5))) % 64**5
    for k in range(5):
        chars[:, length - 1 - k] = _ALPHABET[(code >> (6 * k)) & 63]
    # Scramble the encoded part with a fixed per-call permutation of positions so the counter
    # does not read as a visible suffix.
    perm = rng.permutation(length)
    chars = np.ascontiguousarray(chars[:, perm])
    strings = chars.view(f"S{length}").ravel()
    arr = pa.array(strings, type=pa.binary(length)).cast(pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), arr, "")


def unique_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct mainland mobile numbers as int64, none equal to a junk phone.

    The last 8 digits are a bijection of the row number (multiplicative with a constant coprime
    to 10**8), so uniqueness holds whatever prefix is drawn."""
    offset = int(rng.integers(0, 10**8))
    suffix = (np.arange(n, dtype=np.int64) * 48271 + offset) % 10**8
    prefix = config.PHONE_PREFIXES[rng.integers(0, len(config.PHONE_PREFIXES), size=n)]
    phones = prefix.astype(np.int64) * 10**8 + suffix
    junk = np.array([int(config.JUNK_PHONE), *map(int, config.STORE_PHONES)], dtype=np.int64)
    clash = np.isin(phones, junk)
    phones[clash] = 166 * 10**8 + suffix[clash]  # 166 is no junk phone's prefix
    return phones


def phone_strings(phones: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(phones, type=pa.int64()), pa.string())


def phone_formats(rng: np.random.Generator, n: int, messy_rate: float) -> np.ndarray:
    """Per row: 0 plain, else (with probability ``messy_rate``, evenly) one of the 3 messy
    formats of :func:`messy_phones`. Draws nothing when ``messy_rate`` is 0."""
    if n == 0 or messy_rate <= 0:
        return np.zeros(n, dtype=np.int8)
    return np.where(rng.random(n) < messy_rate, rng.integers(1, 4, size=n), 0).astype(np.int8)


def messy_phones(fmt: np.ndarray, phone11: pa.Array) -> pa.Array:
    """Write each 11-digit phone in the format ``fmt`` gives (see :func:`phone_formats`): 0 plain,
    1 `+86 138-0013-8000`, 2 `0086 13800138000`, 3 `138 0013 8000`."""
    n = len(phone11)
    if n == 0 or not fmt.any():
        return phone11
    a = pc.utf8_slice_codeunits(phone11, 0, 3)
    b = pc.utf8_slice_codeunits(phone11, 3, 7)
    c = pc.utf8_slice_codeunits(phone11, 7, 11)
    dashed = pc.binary_join_element_wise(
        pa.scalar("+86 "), a, pa.scalar("-"), b, pa.scalar("-"), c, ""
    )
    prefixed = pc.binary_join_element_wise(pa.scalar("0086 "), phone11, "")
    spaced = pc.binary_join_element_wise(a, b, c, " ")
    return pc.choose(pa.array(fmt), phone11, dashed, prefixed, spaced)


def normalise_phone(values: pa.Array | list) -> pa.Array:
    """The contract's normalisation: keep digits, drop a leading 86 / 0086 country code."""
    arr = pa.array(values, type=pa.string()) if not isinstance(values, pa.Array) else values
    digits = pc.replace_substring_regex(arr, r"\D", "")
    return pc.replace_substring_regex(digits, r"^(0086|86)(1\d{10})$", r"\2")


def padded(values: np.ndarray, width: int) -> pa.Array:
    """Decimal strings of non-negative ints, zero-padded to at least ``width`` digits."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) and values.min() >= 0 and values.max() < 10**width:
        # all exactly ``width`` digits: build the characters in numpy, no Arrow string kernels
        chars = np.empty((len(values), width), dtype=np.uint8)
        v = values
        for k in range(width - 1, -1, -1):
            v, r = np.divmod(v, 10)
            chars[:, k] = r
        chars += 48
        offsets = np.arange(0, (len(values) + 1) * width, width, dtype=np.int32)
        return pa.Array.from_buffers(
            pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(chars)]
        )
    return pc.utf8_lpad(
        pc.cast(pa.array(values, type=pa.int64()), pa.string()), width=width, padding="0"
    )
