"""Three tabs of the failure-analysis page: a mask worn below the nose, real hands beside drawn
ones, and a dim webcam (studies below_nose, hands, dim_webcam). A helper module, not a page; the
figures come from maskdash.charts, the numbers from `python -m maskdash analyze`."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash import charts
from maskdash.analysis.results import table, with_study
from views.common import pct
from views.failure_common import example_faces, few_note, no_results, subsample_note, tables


def _block(results: dict[str, dict], name: str, study: str) -> dict:
    return results[name]["summary"]["studies"][study]


def _binary_note(results: dict[str, dict], names: list[str], study: str) -> None:
    binary = [n for n in names if not _block(results, n, study).get("three_class")]
    if binary:
        st.caption(f"{', '.join(f'**{n}**' for n in binary)}: a two-class model (with / without mask). It cannot "
                   "answer *mask worn incorrectly* (shown as –); for it, *without mask* — not compliant — is "
                   "the right answer to a mask below the nose.")


def _share_rows(results: dict[str, dict], names: list[str], key: str, group_cols: list[str], titles: dict,
                shares: dict[str, str]) -> pd.DataFrame:
    """One row per group and model: n first, then the shares as percentages."""
    rows = []
    for n, t in tables(results, names, key).items():
        for _, r in t.iterrows():
            group = " · ".join(str(r[c]) for c in group_cols)
            rows.append({"model": n, "faces": titles.get(group, group), "n": int(r["n"]),
                         **{label: pct(r.get(col), 1) for col, label in shares.items()}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- below the nose


def below_nose_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("A mask worn below the nose")
    names = with_study(results, "below_nose")
    if not names:
        return no_results("below_nose")
    blk = _block(results, names[0], "below_nose")
    st.markdown(
        "A mask pulled down under the nose protects little, yet it is still a mask on the face: the question is "
        "whether the model says *with mask* — the harmful error, a wrongly worn mask passed as correct — or "
        "notices it. The faces: **real** ones, annotated *mask worn incorrectly* in the dev-scene photos and in "
        "the extra faces (both holdout folds: no model learnt from them), and **drawn** ones: unmasked Test faces "
        "with a mask drawn below the nose from the face's landmarks, the nose left visible — over mouth and "
        "chin, or pulled down to the chin only."
    )
    _binary_note(results, names, "below_nose")
    titles = {f"{s} · real": t for s, t in blk.get("sources", {}).items() if s != "generated"}
    titles |= {f"generated · {v}": f"drawn: {t}" for v, t in blk.get("variants", {}).items()}
    found = {n: t.assign(group=[f"{s} · {v}" for s, v in zip(t["source"], t["variant"])])
             for n, t in tables(results, names, "below_nose_summary").items()}
    if found:
        st.plotly_chart(charts.share_bars(found, "group", titles, title="Share called “with mask” (truth: mask "
                                                                        "worn below the nose)",
                                          x_title="faces"), key="below_nose_bar")
        few_note(pd.concat(found.values()))
    shares = {"called_with_mask": "called with mask (harmful)", "called_incorrect": "called mask incorrect",
              "called_without_mask": "called without mask"}
    rows = _share_rows(results, names, "below_nose_summary", ["source", "variant"], titles, shares)
    if len(rows):
        st.dataframe(rows, hide_index=True)
    subsample_note(results, names)
    placed = blk.get("placed_from_landmarks")
    if placed is not None:
        st.caption(f"Masks placed from BlazeFace landmarks on {pct(placed, 0)} of the drawn faces; the rest at the "
                   "typical position in a face crop.")
    st.markdown("**The faces the model leaned most towards a correctly worn mask** (each with its verdict: "
                "when the model gets them all right, these are its closest calls)")
    example_faces(results, "below_nose", names, have_data)


# ---------------------------------------------------------------- real hands

HAND_METRICS = {"hand_or_object": "real hand or object", "hard_negative": "real hard negative",
                "drawn_hand": "drawn hand", "test_untouched": "untouched Test face"}  # short: metric labels


def hands_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("Real hands and objects over the mouth, beside the drawn ones")
    names = with_study(results, "hands")
    if not names:
        return no_results("hands")
    blk = _block(results, names[0], "hands")
    titles = blk.get("titles", {})
    st.markdown(
        "The occluders tab draws a hand over unmasked faces. Here are **real photos** of the same thing: people "
        "with a hand, a cup or another object over the mouth, and faces a reviewer marked as hard cases (*hard "
        "negatives*), all without a mask and all from the extra faces' holdout fold, which no model learnt from. "
        "Every *with mask* call is an error. These groups are **small**: one face moves a share by several "
        "points, so read each with its n."
    )
    first = table(results[names[0]], "hands_summary")
    if first is not None:
        cols = st.columns(len(first))
        for col, (_, r) in zip(cols, first.iterrows()):
            col.metric(HAND_METRICS.get(r["group"], r["group"]), f"n = {int(r['n'])}",
                       help=f"{titles.get(r['group'], r['group'])}: faces in this group")
            col.caption(f"**{names[0]}**: called with mask {pct(r['called_with_mask'], 0)}; "
                        f"kept *without mask* {pct(r.get('kept_label'), 0)}")
    found = tables(results, names, "hands_summary")
    if found:
        st.plotly_chart(charts.share_bars(found, "group", titles, title="Share called “with mask” (truth: no mask)",
                                          x_title="faces"), key="hands_bar")
        few_note(pd.concat(found.values()))
    shares = {"called_with_mask": "called with mask", "kept_label": "kept without mask",
              "called_incorrect": "called mask incorrect"}
    rows = _share_rows(results, names, "hands_summary", ["group"], titles, shares)
    if len(rows):
        st.dataframe(rows, hide_index=True)
    origin = blk.get("drawn_from")
    if origin:
        st.caption(f"The drawn hand's figures are the occluders study's (from {origin}), on unmasked Test faces; "
                   "for a three-class model that table keeps only p(with mask), so *kept without mask* is – there.")
    else:
        st.info("No drawn-hand figures beside these: the occluders study had not been run for this model "
                "(`python -m maskdash analyze` runs both).", icon=":material/hourglass_empty:")
    st.markdown("**The real faces the model leaned most towards a mask** (each with its verdict: when it gets "
                "them all right, these are its closest calls)")
    example_faces(results, "hands", names, have_data)


# ---------------------------------------------------------------- dim webcam


def dim_webcam_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("A dim webcam")
    names = with_study(results, "dim_webcam")
    if not names:
        return no_results("dim_webcam")
    blk = _block(results, names[0], "dim_webcam")
    levels = list(blk.get("levels", {"original": 1.0}))
    st.markdown(
        "In a dark room a webcam does not just give a darker picture: it turns the gain up, so the picture is "
        "grainy, tinted by the lamp, a little smeared by the long exposure and blocky from compression. The Test "
        "faces are put through the project's fixed model of such a webcam at three darkness levels ("
        + ", ".join(f"*{lv}*: {100 * f:.0f} % of the light" for lv, f in blk.get("levels", {}).items()
                     if lv != "original")
        + "), beside real frames from dim webcams. A face that *keeps its label* is called what it is."
    )
    subsample_note(results, names)
    found = tables(results, names, "dim_webcam_summary")
    if found:
        st.plotly_chart(charts.dim_kept(found, levels), key="dim_kept")
    rows = []
    for n, t in found.items():
        for _, r in t.iterrows():
            rows.append({"model": n, "faces": "Test" if r["source"] == "test" else "real dim webcam (holdout)",
                         "level": r["level"], "truth": r["truth"], "n": int(r["n"]),
                         "kept its label": pct(r["kept_label"], 1), "called with mask": pct(r["called_with_mask"], 1),
                         "called mask incorrect": pct(r["called_incorrect"], 1)})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"faces": st.column_config.Column(width="medium")})  # its names were cut off
        st.caption("Real dim-webcam faces: the extra faces' holdout fold tagged *dim_webcam*. A two-class model "
                   "cannot keep the label *mask incorrect* (–).")
    st.markdown("**The same faces at each level, as the model saw them**")
    example_faces(results, "dim_webcam", names, have_data)
