"""The class names, their order, and the one rule that turns a probability into a label.

Every model outputs softmax probabilities in `CLASSES` order, so index 0 is p(with_mask).
Everything else that names a class (data readers, tracking, drawing, charts, CSVs) uses these
constants, never the literal strings."""

from __future__ import annotations

import re

WITH_MASK = "with_mask"
WITHOUT_MASK = "without_mask"
INCORRECT = "mask_weared_incorrect"  # the dev scenes' annotation name for a mask worn below the nose
UNCERTAIN = "uncertain"  # a live face not yet seen often enough for a verdict

CLASSES: tuple[str, str] = (WITH_MASK, WITHOUT_MASK)
MASK_INDEX, NO_MASK_INDEX = 0, 1  # positions in CLASSES and in the model's output

# Crop margin around a detector box: the margin the robust recipe learnt dev-scene faces with.
CROP_MARGIN = 0.2
DEFAULT_THRESHOLD = 0.5


def label_for(p_mask: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The one threshold rule: p(with_mask) at or above `threshold` is with_mask."""
    return WITH_MASK if p_mask >= threshold else WITHOUT_MASK


def normalize_class(name: str) -> str | None:
    """Folder or annotation name → WITH_MASK / WITHOUT_MASK / INCORRECT / None.
    Case, spaces, dashes and underscores are ignored: WithMask, with_mask, With-Mask all match."""
    key = re.sub(r"[^a-z]", "", name.lower())
    if key in ("withmask", "mask", "masked"):
        return WITH_MASK
    if key in ("withoutmask", "nomask", "unmasked"):
        return WITHOUT_MASK
    if key in ("maskwearedincorrect", "maskwornincorrect", "incorrectmask", "maskincorrect"):
        return INCORRECT
    return None


def labels_for(p_mask, threshold: float = DEFAULT_THRESHOLD):
    """`label_for` over an array of probabilities (a NumPy array of strings)."""
    import numpy as np

    return np.where(np.asarray(p_mask, dtype=float) >= threshold, WITH_MASK, WITHOUT_MASK)
