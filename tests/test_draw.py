"""Numbered photo drawing (maskdash.inference.draw.annotate_numbered): every label next to its
own face, no two labels on top of each other in a crowd, the highlight, and blurring that
touches the faces' pixels only."""

from __future__ import annotations

import numpy as np
import pytest

from maskdash.inference.draw import COLORS, HIGHLIGHT, annotate_numbered, blur_faces
from maskdash.inference.results import Face
from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK


def _touches(rect, box) -> bool:
    """Do the two rectangles overlap or share an edge?"""
    return rect[0] <= box[2] and box[0] <= rect[2] and rect[1] <= box[3] and box[1] <= rect[3]


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def crowd(rows: int = 6, cols: int = 9, size: int = 16, gap: int = 30, seed: int = 0) -> list[Face]:
    """A grid of small faces, as in a photo of a crowd, with mixed verdicts."""
    rng = np.random.default_rng(seed)
    faces = []
    for r in range(rows):
        for c in range(cols):
            x, y = 20 + c * (size + gap) + rng.integers(0, 6), 20 + r * (size + gap) + rng.integers(0, 6)
            p = float(rng.random())
            faces.append(Face((x, y, x + size, y + size), 0.9, p_mask=p, label=WITH_MASK if p >= 0.5 else WITHOUT_MASK))
    return faces


@pytest.fixture
def photo() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (320, 460, 3), dtype=np.uint8)


def test_each_label_carries_its_face_number_beside_its_box(photo):
    faces = crowd()
    out, tags = annotate_numbered(photo, faces)
    assert out.shape == photo.shape and not np.array_equal(out, photo)
    assert [t.face for t in tags] == list(range(len(faces)))
    for i, (face, tag) in enumerate(zip(faces, tags)):
        assert tag.text.split()[0] == str(i)
        assert tag.box == tuple(int(v) for v in face.box)
        assert _touches(tag.rect, tag.box), (i, tag)
        x1, y1, x2, y2 = tag.rect
        assert 0 <= x1 < x2 <= photo.shape[1] and 0 <= y1 < y2 <= photo.shape[0]
        # the label's background is the verdict's colour
        assert (out[y1 + 1, x1 + 1] == COLORS[face.label]).all()


def test_labels_do_not_overlap_in_a_crowd(photo):
    _, tags = annotate_numbered(photo, crowd())
    for i, a in enumerate(tags):
        for b in tags[i + 1:]:
            assert not _overlap(a.rect, b.rect), (a, b)


def test_small_faces_get_their_number_only_large_ones_their_verdict(photo):
    small = Face((40, 40, 56, 56), 0.9, p_mask=0.9, label=WITH_MASK)
    large = Face((200, 100, 340, 260), 0.9, p_mask=0.1, label=WITHOUT_MASK)
    _, tags = annotate_numbered(photo, [small, large])
    assert tags[0].text == "0"
    assert tags[1].text == "1 no mask 0.90"  # the probability of the verdict drawn: p(without_mask)


def test_a_mask_below_the_nose_has_its_own_colour_and_words(photo):
    from maskdash.inference.draw import annotate

    colours = {COLORS[c] for c in (WITH_MASK, WITHOUT_MASK, INCORRECT, UNCERTAIN)}
    assert len(colours) == 4  # orange, apart from green, red and the yellow of 'uncertain'
    face = Face((200, 100, 340, 260), 0.9, p_mask=0.2, label=INCORRECT, p_incorrect=0.7)
    drawn, tags = annotate_numbered(photo, [face])
    assert tags[0].text == "0 mask below nose 0.70"  # p(mask_incorrect), the verdict's own probability
    assert tuple(drawn[180, 200]) == COLORS[INCORRECT]  # the box's left edge
    live = annotate(photo, [face], bgr=True)
    assert tuple(live[180, 200]) == COLORS[INCORRECT][::-1]


def test_scale_draws_boxes_of_the_original_on_a_display_copy(photo):
    face = Face((10, 20, 50, 60), 0.9, p_mask=0.9, label=WITH_MASK)
    _, tags = annotate_numbered(photo, [face], scale=2.0)
    assert tags[0].box == (20, 40, 100, 120)


def test_highlight_rings_the_chosen_face_only(photo):
    faces = crowd(rows=2, cols=3, size=40, gap=60)
    plain, _ = annotate_numbered(photo, faces)
    lit, tags = annotate_numbered(photo, faces, highlight=4)
    changed = np.argwhere((plain != lit).any(axis=2))
    x1, y1, x2, y2 = tags[4].box
    ys, xs = changed[:, 0], changed[:, 1]
    near = (xs >= x1 - 8) & (xs <= x2 + 8) & (ys >= y1 - 8) & (ys <= y2 + 8)
    on_label = (xs >= tags[4].rect[0]) & (xs < tags[4].rect[2]) & (ys >= tags[4].rect[1]) & (ys < tags[4].rect[3])
    assert len(changed) and (near | on_label).all()  # nothing changes away from face 4 and its label
    # a white ring just outside the box, on every side its label does not cover
    ring = [(y1 - 3, (x1 + x2) // 2), (y2 + 3, (x1 + x2) // 2), ((y1 + y2) // 2, x1 - 3), ((y1 + y2) // 2, x2 + 3)]
    lx1, ly1, lx2, ly2 = tags[4].rect
    free = [(y, x) for y, x in ring if not (lx1 <= x < lx2 and ly1 <= y < ly2)]
    assert len(free) >= 3 and all((lit[y, x] == HIGHLIGHT).all() for y, x in free)
    assert "mask" in tags[4].text  # the highlighted face's verdict is spelt out, whatever its size


def test_blur_changes_the_faces_and_nothing_outside_them(photo):
    faces = crowd(rows=3, cols=4, size=30, gap=50)
    plain, tags = annotate_numbered(photo, faces)
    blurred, tags_b = annotate_numbered(photo, faces, blur=True)
    assert [t.rect for t in tags] == [t.rect for t in tags_b]  # labels where they were
    inside = np.zeros(photo.shape[:2], bool)
    for f in faces:
        x1, y1, x2, y2 = (int(v) for v in f.box)
        inside[y1:y2, x1:x2] = True
        assert not np.array_equal(plain[y1 + 3:y2 - 3, x1 + 3:x2 - 3], blurred[y1 + 3:y2 - 3, x1 + 3:x2 - 3])
    assert np.array_equal(plain[~inside], blurred[~inside])


def test_blur_faces_keeps_the_picture_outside_the_boxes(photo):
    out = blur_faces(photo, [(-10, -10, 30, 30), (400, 300, 500, 400), (100, 100, 100, 140)])
    inside = np.zeros(photo.shape[:2], bool)
    inside[:30, :30] = True
    inside[300:, 400:] = True
    assert np.array_equal(out[~inside], photo[~inside]) and not np.array_equal(out[:30, :30], photo[:30, :30])
    assert out is not photo


def test_a_full_size_download_of_a_phone_photo_gets_labels_as_much_larger(photo):
    """The same faces drawn on a 400 px picture and on the picture 10× larger: the labels are about
    as much taller (a 4000 px download is viewed whole, not at 1:1), still beside their faces and
    apart from each other."""
    import cv2

    faces = crowd()
    big = cv2.resize(photo, None, fx=10, fy=10, interpolation=cv2.INTER_NEAREST)
    big_faces = [Face(tuple(v * 10 for v in f.box), f.det_score, p_mask=f.p_mask, label=f.label) for f in faces]
    _, small_tags = annotate_numbered(photo, faces)
    _, big_tags = annotate_numbered(big, big_faces)
    small_h = np.median([t.rect[3] - t.rect[1] for t in small_tags])
    big_h = np.median([t.rect[3] - t.rect[1] for t in big_tags])
    assert big_h >= 2.5 * small_h  # 4600 px long: 2.9× the page's 1600 px reference
    for i, a in enumerate(big_tags):
        assert _touches(a.rect, a.box)
        for b in big_tags[i + 1:]:
            assert not _overlap(a.rect, b.rect)


def test_the_compliance_view_draws_compliant_and_not_compliant(photo):
    from maskdash.inference.photos import COMPLIANCE, drawn_words

    big = [Face((20, 20, 120, 140), 0.9, p_mask=0.95, label=WITH_MASK),
           Face((200, 20, 300, 140), 0.9, p_mask=0.10, p_incorrect=0.8, label=INCORRECT)]
    _, tags = annotate_numbered(photo, big, words=drawn_words(COMPLIANCE))
    assert [t.text.split(" ", 1)[1].rsplit(" ", 1)[0] for t in tags] == ["compliant", "not compliant"]
    _, tags = annotate_numbered(photo, big, words=drawn_words())  # three classes: the drawing's own words
    assert [t.text.split(" ", 1)[1].rsplit(" ", 1)[0] for t in tags] == ["mask", "mask below nose"]
