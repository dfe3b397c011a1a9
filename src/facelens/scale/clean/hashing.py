"""Perceptual hashes of images and a near-neighbour index over them (multi-index hashing)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def phash(rgb: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hash as 8 bytes: grey 32x32, 8x8 lowest frequencies without DC,
    each bit = coefficient above their median (63 bits used, the last bit is always 0)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dct = cv2.dct(cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA))[:8, :8].flatten()[1:]
    bits = np.append(dct > np.median(dct), False)
    return np.packbits(bits)


def _bit_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances of packed hashes, broadcast over all but the last (byte) axis."""
    return _POPCOUNT[a ^ b].sum(-1, dtype=np.int32)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,8), (M,8) packed hashes -> (N,M) Hamming distances."""
    return _bit_differences(a[:, None, :], b[None, :, :])


def _flip_masks(width: int, bits: int) -> np.ndarray:
    """All `width`-bit integers with at most `bits` bits set."""
    masks = [0]
    for k in range(1, bits + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint64)


def near_pairs(hashes: np.ndarray, radius: int, chunks: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) index pairs i < j of (N, 8) packed 64-bit hashes at most `radius` bits apart, and
    their (P,) Hamming distances.

    Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): split the 64 bits into `chunks`
    parts; two hashes within `radius` bits agree within radius // chunks bits on at least one
    part (pigeonhole), so each part is looked up in a sorted table under every flip of that many
    bits, and only those candidates get the full Hamming distance. Near-linear in N for spread-out
    hashes, where comparing all pairs is quadratic.
    """
    n = len(hashes)
    codes = np.frombuffer(np.ascontiguousarray(hashes, np.uint8).tobytes(), ">u8").astype(np.uint64)
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    found = []
    for lo_bit, hi_bit in zip(bounds[:-1], bounds[1:]):
        width = int(hi_bit - lo_bit)
        keys = (codes >> np.uint64(lo_bit)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        table = keys[order]
        for mask in _flip_masks(width, radius // chunks):
            query = keys ^ mask
            start = np.searchsorted(table, query, "left")
            count = np.searchsorted(table, query, "right") - start
            if not count.any():
                continue
            i = np.repeat(np.arange(n), count)
            offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            j = order[np.repeat(start, count) + offset]
            keep = i < j
            found.append(i[keep].astype(np.int64) * n + j[keep])
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int32)
    flat = np.unique(np.concatenate(found))
    i, j = flat // n, flat % n
    dist = _bit_differences(hashes[i], hashes[j])
    keep = dist <= radius
    return np.stack([i[keep], j[keep]], 1), dist[keep]

