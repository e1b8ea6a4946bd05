"""The Data audit tab of the failure-analysis page: duplicate groups in Face Mask 12K and the
leakage across its splits (models/audit/, from `python -m maskdash audit`). A helper module,
not a page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash import settings
from maskdash.evaluation import shipped
from maskdash.imaging import ImageError
from views.common import safe_report
from views.failure_common import dashes


def audit_summary(audit: dict, duplicates: pd.DataFrame | None) -> None:
    s = audit.get("summary", {})
    c = st.columns(5)
    c[0].metric("files", f"{s.get('files', 0):,}", help="Image files of Face Mask 12K, all splits")
    for col, kind in zip(c[1:3], ("exact", "near")):
        k = s.get(kind, {})
        col.metric(f"{kind} groups", f"{k.get('groups', 0):,}",
                   help=f"Groups of {kind} duplicates: {k.get('files', 0):,} files; "
                        f"{k.get('cross_split_groups', 0)} groups span more than one split")
    cross = sum(s.get(k, {}).get("cross_split_groups", 0) for k in ("exact", "near"))
    c[3].metric("groups across splits", f"{cross:,}", help="Duplicate groups with files in two or three splits")
    c[4].metric("unique Test files", f"{s.get('test_dedup_files', 0):,} of {s.get('test_files', 0):,}",
                help="Test files with no exact or near copy in Train or Validation")
    pairs = pair_rows(s)
    if pairs:
        st.dataframe(dashes(pd.DataFrame(pairs)), hide_index=True)
        st.caption(pairs_note(pairs, cross, duplicates))
    st.caption(f"Near duplicates: perceptual hashes within {audit.get('near_threshold', '?')} bits.")


def pair_rows(summary: dict) -> list[dict]:
    """One row per kind and pair of splits: the groups with files in both, and those files."""
    return [{"kind": kind, "splits": pair.replace("|", " & "), "groups": v.get("groups"),
             **{f"files in {k}": n for k, n in (v.get("files") or {}).items()}}
            for kind in ("exact", "near") for pair, v in (summary.get(kind, {}).get("split_pairs") or {}).items()]


def pairs_note(pairs: list[dict], cross: int, duplicates: pd.DataFrame | None) -> str:
    """Why the pair rows may add up to more than the groups across splits: a group with files
    in all three splits counts once in each of its three pairs (counted from duplicates.csv)."""
    total = sum(int(p["groups"] or 0) for p in pairs)
    note = f"Each row counts the groups with files in both splits of the pair; the rows add up to {total}."
    if total == cross:
        return note + " Every group across splits spans exactly two splits."
    three = spanning_all(duplicates)
    if three is None:
        return note + f" That is more than the {cross} groups across splits: a group with files in all three " \
                      "splits counts in each of its three pairs."
    return note + (f" That is {total - cross} more than the {cross} groups across splits because "
                   f"{len(three)} group{'s' if len(three) != 1 else ''} ({', '.join(f'{k} group {g}' for k, g in three)}) "
                   f"{'have' if len(three) != 1 else 'has'} files in all three splits and so count in each of the three pairs (two extra each).")


def spanning_all(duplicates: pd.DataFrame | None) -> list[tuple[str, int]] | None:
    """(kind, group) of the duplicate groups with files in every split; None without the table."""
    if duplicates is None or not len(duplicates):
        return None
    n_splits = duplicates["split"].nunique()
    per = duplicates.groupby(["kind", "group"])["split"].nunique()
    return [(str(k), int(g)) for (k, g), v in per.items() if v == n_splits and n_splits > 2]


def duplicate_groups(dups: pd.DataFrame, have_data: bool) -> None:
    kinds = st.multiselect("Kind", sorted(dups["kind"].astype(str).unique()), key="audit_kinds")
    cross_only = st.toggle("Only groups that span more than one split (leakage)", value=True, key="audit_cross")
    d = dups if not kinds else dups[dups["kind"].isin(kinds)]
    if cross_only:
        d = d[d.groupby("group")["split"].transform("nunique") > 1]
    st.dataframe(dashes(d), hide_index=True)
    if not have_data or not len(d):
        return
    from maskdash.imaging import load_rgb, to_input

    st.markdown("**A few groups, side by side**")
    for g in list(dict.fromkeys(d["group"]))[:3]:
        imgs, caps = [], []
        for _, r in d[d["group"] == g].head(4).iterrows():
            try:
                imgs.append(to_input(load_rgb(settings.facemask12k_dir() / str(r["path"])), 112))
                caps.append(f"{r['split']} · {r['label']}")
            except ImageError as exc:
                st.caption(f"{r['path']}: {exc}")
        if imgs:
            st.image(imgs, caption=caps, width=112)


def audit_tab(duplicates: pd.DataFrame | None, have_data: bool) -> None:
    st.subheader("Duplicates and leakage in Face Mask 12K")
    audit = safe_report(shipped.load_audit)
    if audit is None and duplicates is None:
        st.info(f"No data audit yet in `{settings.display_path(shipped.audit_dir())}`: `python -m maskdash audit` "
                "writes audit.json and duplicates.csv.", icon=":material/hourglass_empty:")
    if audit is not None:
        audit_summary(audit, duplicates)
    if duplicates is not None and len(duplicates):
        duplicate_groups(duplicates, have_data)
