"""Dataset conversion: the converter plugin contract."""
