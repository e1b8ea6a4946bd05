"""Reading failure-analysis results (models/analysis/<name>/) and the few headline figures the
dashboard and the terminal show from them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from maskdash.analysis.yaw import YAW_BINS

# what a run writes besides summary.json (the dashboard reads these)
RESULT_FILES = ("angles_faces.csv", "angles_bins.csv", "occluders.csv", "occluders_summary.csv", "distance.csv",
                "lighting.csv", "native_sizes.csv", "native_accuracy.csv", "below_nose.csv", "below_nose_summary.csv",
                "hands.csv", "hands_summary.csv", "dim_webcam.csv", "dim_webcam_summary.csv", "examples.csv")


def analysis_root() -> Path:
    """Where results live: `<reports root>/analysis` (MASKDASH_REPORTS moves the reports root)."""
    from maskdash.evaluation import shipped

    return shipped.reports_root() / "analysis"


def result_names(root: Path | None = None) -> list[str]:
    """Result folders with a summary.json: robust and seed first, then any others."""
    root = root or analysis_root()
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if (p / "summary.json").is_file()]
    order = {"robust": 0, "seed": 1}
    return sorted(names, key=lambda n: (order.get(n, 2), n))


def load_results(name: str, root: Path | None = None) -> dict:
    """{"folder": Path, "summary": dict, "<file stem>": DataFrame, …, "errors": [messages]} for one
    result folder. Missing files are absent; unreadable ones are reported in "errors"."""
    folder = (root or analysis_root()) / name
    out: dict = {"folder": folder, "errors": []}
    try:
        out["summary"] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        out["summary"] = {}
        out["errors"].append(f"summary.json of {name} is unreadable ({exc})")
    for f in RESULT_FILES:
        path = folder / f
        if path.is_file():
            try:
                out[path.stem] = pd.read_csv(path)
            except (OSError, ValueError) as exc:
                out["errors"].append(f"{f} of {name} is unreadable ({exc})")
    return out


def shown_path(path: str | Path) -> str:
    """A path recorded in a summary, as a reader should see it: relative to the project when it
    is inside it; a run recorded on another checkout (absolute, elsewhere) from its last
    `models/` on, else only its file name, never a machine's absolute path."""
    from maskdash import settings

    shown = settings.display_path(path)
    if not Path(shown).is_absolute():
        return shown
    parts = Path(path).parts
    if "models" in parts:
        k = len(parts) - 1 - parts[::-1].index("models")
        return Path(*parts[k:]).as_posix()
    return Path(path).name


def headlines(s: dict) -> dict[str, float | None]:
    """The few figures that answer the reported failures, from one summary.json (None where a
    study or bin is missing). Shares and accuracies in 0…1."""
    st = s.get("studies", {})
    out: dict[str, float | None] = {}

    def row(table, **match):
        for r in table or []:
            if all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    occ = (st.get("occluders") or {}).get("objects") or {}
    out["no mask, untouched: called with mask"] = (occ.get("none") or {}).get("called_with_mask")
    for obj in ("hand", "phone", "cup"):
        out[f"no mask + {obj}: called with mask"] = (occ.get(obj) or {}).get("called_with_mask")
    # a scarf pulled over mouth and nose is accepted as a face covering (the Occluding objects tab):
    # its "with mask" calls are not failures, so the glance names them for what they are
    out["scarf over mouth and nose: accepted as a covering"] = (occ.get("scarf") or {}).get("called_with_mask")
    src = ((st.get("angles") or {}).get("sources") or {})
    for source, title in (("dev_scenes", "dev scenes"), ("test", "Test")):
        bins = (src.get(source) or {}).get("bins")
        for b in (YAW_BINS[0], YAW_BINS[-1]):
            r = row(bins, yaw_bin=b, truth="all")
            out[f"{title}, |yaw| {b}: accuracy"] = r and r["accuracy"]
    dist = (st.get("distance") or {}).get("table")
    for w in (16, 24, 32, 224):
        r = row(dist, width=w, truth="all")
        out[f"face {w} px wide: accuracy"] = r and r["accuracy"]
    light = (st.get("lighting") or {}).get("table")
    for kind, f in (("brightness", 0.2), ("brightness", 2.0), ("contrast", 0.25)):
        r = row(light, kind=kind, factor=f, truth="all")
        out[f"{kind} ×{f}: accuracy"] = r and r["accuracy"]
    below = (st.get("below_nose") or {}).get("table")
    for source, variant, title in (("dev_scenes", "real", "real, dev scenes"), ("extra_faces", "real", "real, extra faces"),
                                   ("generated", "mouth_chin", "drawn")):
        r = row(below, source=source, variant=variant)
        out[f"mask below the nose ({title}): called with mask"] = r and r["called_with_mask"]
    hands = (st.get("hands") or {}).get("table")
    r = row(hands, group="hand_or_object")
    out["real hand or object over an unmasked mouth: called with mask"] = r and r["called_with_mask"]
    dim = (st.get("dim_webcam") or {}).get("table")
    for truth, title in (("with_mask", "masked"), ("without_mask", "unmasked")):
        r = row(dim, source="test", level="very dark", truth=truth)
        out[f"very dark webcam, {title}: kept label"] = r and r["kept_label"]
    return out


def summary_lines(s: dict) -> list[str]:
    """A few headline figures of one run, for the terminal."""
    lines = [f"== {s['name']} ({s['model']}, {s.get('runtime_s', 0):.0f} s)"]
    st = s.get("studies", {})
    for source, b in (st.get("angles", {}).get("sources") or {}).items():
        cells = [f"{r['yaw_bin']} {100 * r['accuracy']:.0f}% (n={r['n']})" for r in b["bins"]
                 if r["truth"] == "all" and r["accuracy"] is not None]
        lines.append(f"angles/{source}: detected {100 * b['detected']:.0f}%; accuracy by |yaw|: " + ", ".join(cells))
    occ = st.get("occluders", {}).get("objects") or {}
    if occ:
        lines.append("occluders, called with_mask: " + ", ".join(
            f"{k} {100 * v['called_with_mask']:.0f}%" for k, v in occ.items()))
    for r in (st.get("distance", {}).get("table") or []):
        if r["truth"] == "all" and r["width"] in (16, 32, 64, 224):
            lines.append(f"distance {r['width']:>3} px: accuracy {100 * r['accuracy']:.1f}%")
    for r in (st.get("lighting", {}).get("table") or []):
        if r["truth"] == "all" and r["kind"] == "brightness" and r["factor"] in (0.2, 0.5, 1.0, 2.0):
            lines.append(f"brightness ×{r['factor']}: accuracy {100 * r['accuracy']:.1f}%")

    def p(v) -> str:
        return "–" if v is None else f"{100 * v:.1f}%"

    for r in (st.get("below_nose", {}).get("table") or []):
        lines.append(f"below_nose/{r['source']}/{r['variant']} (n={r['n']}): with_mask {p(r['called_with_mask'])}, "
                     f"mask_incorrect {p(r['called_incorrect'])}, without_mask {p(r['called_without_mask'])}")
    for r in (st.get("hands", {}).get("table") or []):
        lines.append(f"hands/{r['group']} (n={r['n']}): called with_mask {p(r['called_with_mask'])}, "
                     f"kept without_mask {p(r['kept_label'])}")
    for r in (st.get("dim_webcam", {}).get("table") or []):
        lines.append(f"dim_webcam/{r['source']}/{r['level']}/{r['truth']} (n={r['n']}): kept label {p(r['kept_label'])}, "
                     f"with_mask {p(r['called_with_mask'])}, mask_incorrect {p(r['called_incorrect'])}")
    return lines


def table(results: dict, key: str) -> pd.DataFrame | None:
    """One result table (file stem `key`), None when missing or empty."""
    df = results.get(key)
    return df if isinstance(df, pd.DataFrame) and len(df) else None


def with_study(all_results: dict[str, dict], study: str) -> list[str]:
    """The result names (in order) whose summary has this study."""
    return [n for n, r in all_results.items() if study in r.get("summary", {}).get("studies", {})]
