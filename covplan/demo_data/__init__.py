"""Deterministic synthetic chest CT phantoms written in the raw layouts of the public
datasets, so that the demo and the tests run through the real converters."""
