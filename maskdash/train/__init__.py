"""Training: one trainer (`loop.train`) for every recipe and data feed (`config`), one run-folder
format (`run`), the two feeds (`feeds`). `python -m maskdash train --recipe R --feed F`."""
