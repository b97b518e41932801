"""Data readers and row checks."""

from fteval.data.readers import Row, read_hf_dataset, read_rows

__all__ = ["Row", "read_hf_dataset", "read_rows"]
