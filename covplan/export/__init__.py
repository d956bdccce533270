"""Trained models shipped as one archive (``covplan export`` / ``covplan import``), with
their networks as ONNX on request."""

from covplan.export.archive import (ArchivedModel, export_archive, import_archive, is_archive, read_manifest,
                                    unpacked_archive)

__all__ = ["ArchivedModel", "export_archive", "import_archive", "is_archive", "read_manifest", "unpacked_archive"]
