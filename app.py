"""MaskDash: the entry script. It only frames the app — page config, navigation and the shared
sidebar note on the data folder; each page renders itself (views/*.py)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from maskdash import settings

ROOT = Path(__file__).resolve().parent
# The browser-tab icon is a file served by this app: for a Material icon name Streamlit points the
# favicon at fonts.gstatic.com, which an offline or private deployment cannot (and should not) reach.
ICON = ROOT / "assets" / "icon.png"

# (file, title, icon); a page another developer has not delivered yet is left out so the app runs.
PAGES = [
    ("views/home.py", "Home", ":material/home:"),
    ("views/live.py", "Live", ":material/videocam:"),
    ("views/photos.py", "Photos", ":material/photo_library:"),
    ("views/training.py", "Training", ":material/show_chart:"),
    ("views/evaluation.py", "Evaluation", ":material/fact_check:"),
    ("views/failure_analysis.py", "Failure analysis", ":material/troubleshoot:"),
    ("views/how_it_works.py", "How it works", ":material/school:"),
]

st.set_page_config(page_title="MaskDash", page_icon=str(ICON), layout="wide")

nav = st.navigation([
    st.Page(path, title=title, icon=icon, default=(path == "views/home.py"))
    for path, title, icon in PAGES
    if (ROOT / path).is_file()
])

with st.sidebar:
    data = settings.display_path(settings.data_dir())  # never this machine's absolute path
    if (settings.facemask12k_dir() / "Test").is_dir():
        st.caption(f":material/folder: Data folder: `{data}`")
    else:
        st.caption(
            f":material/folder_off: No data folder at `{data}`. The pages show the committed "
            "reports; set `MASKDASH_DATA` to a folder holding `facemask12k/` (and "
            "`face-mask-detection-dev/`) to browse real faces too."
        )

nav.run()
