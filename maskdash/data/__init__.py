"""Data: the data-set readers (datasets), the training pack (pack), augmentation (augment) and the
duplicate audit (audit)."""
