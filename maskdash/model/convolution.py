"""A convolution small enough to follow by hand, for the "How it works" page.

A CNN layer slides a small kernel over its input and writes, at each position, the sum of the
element-wise products under the window (strictly a cross-correlation, which is what deep-learning
libraries compute and call convolution). No padding, stride 1: a 6×6 input and a 3×3 kernel give
a 4×4 output."""

from __future__ import annotations

import numpy as np

# The first 36 digits of pi, row by row: easy to check and not hand-picked to look tidy.
EXAMPLE_IMAGE = np.array(
    [
        [3, 1, 4, 1, 5, 9],
        [2, 6, 5, 3, 5, 8],
        [9, 7, 9, 3, 2, 3],
        [8, 4, 6, 2, 6, 4],
        [3, 3, 8, 3, 2, 7],
        [9, 5, 0, 2, 8, 8],
    ],
    dtype=np.int64,
)
# An "X" detector: it responds to the corners and the centre of the window.
EXAMPLE_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.int64)
EXAMPLE_CELL = (0, 0)  # output row, column whose value is 31: 3 + 4 + 6 + 9 + 9

KERNELS: dict[str, np.ndarray] = {
    "X pattern (the worked example)": EXAMPLE_KERNEL,
    "vertical edge": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.int64),
    "horizontal edge": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.int64),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.int64),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.int64),
}


def output_shape(image: np.ndarray, kernel: np.ndarray) -> tuple[int, int]:
    return image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1


def convolve_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Stride 1, no padding, no kernel flip (as CNN layers do)."""
    oh, ow = output_shape(image, kernel)
    if oh < 1 or ow < 1:
        raise ValueError("the kernel is larger than the image")
    kh, kw = kernel.shape
    out = np.zeros((oh, ow), dtype=np.result_type(image, kernel))
    for r in range(oh):
        for c in range(ow):
            out[r, c] = np.sum(image[r : r + kh, c : c + kw] * kernel)
    return out


def window(image: np.ndarray, kernel: np.ndarray, row: int, col: int) -> np.ndarray:
    kh, kw = kernel.shape
    return image[row : row + kh, col : col + kw]


def arithmetic(image: np.ndarray, kernel: np.ndarray, row: int, col: int) -> str:
    """The sum of products at one output cell, written out: "3×1 + 1×0 + … = 31"."""
    patch = window(image, kernel, row, col)
    terms = [f"{_fmt(v)}×{_fmt(k)}" for v, k in zip(patch.ravel(), kernel.ravel())]
    return " + ".join(terms) + f" = {_fmt(np.sum(patch * kernel)).strip('()')}"


def _fmt(v) -> str:
    v = float(v)
    text = str(int(v)) if v.is_integer() else f"{v:.2f}"
    return f"({text})" if v < 0 else text
