"""The class names, their order, and the one rule that turns a probability into a label.

Every model outputs softmax probabilities in `CLASSES3` order, cut to its width: a binary model
gives (with_mask, without_mask), a three-class one adds mask_incorrect; index 0 is p(with_mask).
Everything else that names a class (data readers, tracking, drawing, charts, CSVs) uses these
constants, never the literal strings."""

from __future__ import annotations

import re

WITH_MASK = "with_mask"
WITHOUT_MASK = "without_mask"
INCORRECT = "mask_incorrect"  # a mask worn below the nose or on the chin (the dev scenes' mask_weared_incorrect)
UNCERTAIN = "uncertain"  # a live face not yet seen often enough for a verdict

CLASSES: tuple[str, str] = (WITH_MASK, WITHOUT_MASK)  # a binary model's outputs; the data sets' classes
CLASSES3: tuple[str, str, str] = (WITH_MASK, WITHOUT_MASK, INCORRECT)  # a three-class model's outputs
MASK_INDEX, NO_MASK_INDEX, INCORRECT_INDEX = 0, 1, 2  # positions in CLASSES3 and in the model's output
COMPLIANT, NOT_COMPLIANT = "compliant", "not compliant"  # the two-answer view of any verdict

# Crop margin around a detector box: the margin the robust recipe learnt dev-scene faces with.
CROP_MARGIN = 0.2
DEFAULT_THRESHOLD = 0.5


def classes_of(units: int) -> tuple[str, ...]:
    """The class names of a model with `units` outputs."""
    return CLASSES3[:units]


def label_for(p_mask: float, threshold: float = DEFAULT_THRESHOLD, p_incorrect: float | None = None) -> str:
    """The one threshold rule: p(with_mask) at or above `threshold` is with_mask. Below it, a
    three-class model's face is mask_incorrect when that is likelier than no mask at all."""
    if p_mask >= threshold:
        return WITH_MASK
    return unmasked_label(p_mask, p_incorrect)


def unmasked_label(p_mask: float, p_incorrect: float | None = None) -> str:
    """The second half of the rule, for a face already judged not to wear its mask properly (the
    live tracker decides that half with hysteresis): mask_incorrect when p_incorrect is likelier
    than no mask at all (p_without = 1 − p_mask − p_incorrect), else without_mask. A binary
    model's p_incorrect (None or NaN) always gives without_mask."""
    if p_incorrect is not None and p_incorrect == p_incorrect and p_incorrect > 1.0 - p_mask - p_incorrect:
        return INCORRECT
    return WITHOUT_MASK


def compliance(label: str) -> str:
    """The two-answer view: only a correctly worn mask is compliant."""
    return COMPLIANT if label == WITH_MASK else NOT_COMPLIANT


def normalize_class(name: str) -> str | None:
    """Folder or annotation name → WITH_MASK / WITHOUT_MASK / INCORRECT / None.
    Case, spaces, dashes and underscores are ignored: WithMask, with_mask, With-Mask all match."""
    key = re.sub(r"[^a-z]", "", name.lower())
    if key in ("withmask", "mask", "masked"):
        return WITH_MASK
    if key in ("withoutmask", "nomask", "unmasked"):
        return WITHOUT_MASK
    if key in ("maskwearedincorrect", "maskwornincorrect", "incorrectmask", "maskincorrect", "maskincorrectlyworn"):
        return INCORRECT
    return None


def labels_for(p_mask, threshold: float = DEFAULT_THRESHOLD, p_incorrect=None):
    """`label_for` over arrays of probabilities (a NumPy array of strings)."""
    import numpy as np

    p_mask = np.asarray(p_mask, dtype=float)
    out = np.where(p_mask >= threshold, WITH_MASK, WITHOUT_MASK).astype(object)
    if p_incorrect is not None:
        p_inc = np.nan_to_num(np.asarray(p_incorrect, dtype=float), nan=0.0)
        out[(p_mask < threshold) & (p_inc > 1.0 - p_mask - p_inc)] = INCORRECT
    return out.astype(str)
