"""Data: the fictitious-persons corpus, loaders for TOFU and user files, validation, and the split bundle.

    from obliviate.data import load_splits
    splits = load_splits("tofu:/path/to/TOFU", "forget10")
    print(splits.describe())
"""
from obliviate.data.records import read_records, write_jsonl, write_records
from obliviate.data.splits import Splits, load_splits
from obliviate.data.tofu import load_tofu

__all__ = ["Splits", "load_splits", "load_tofu", "read_records", "write_jsonl", "write_records"]
