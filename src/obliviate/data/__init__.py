"""Data: the fictitious-persons corpus, loaders for TOFU and user files, validation, and the split bundle."""
