"""Dataset fingerprint: what nnU-Net's planner needs to know about a raw dataset."""

from covplan.fingerprinting.fingerprint import dataset_hash, extract_fingerprint, verify_dataset

__all__ = ["dataset_hash", "extract_fingerprint", "verify_dataset"]
