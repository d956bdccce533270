"""Trained models shipped as one archive (``covplan export``), with their networks as ONNX
on request. Reading an archive back (``covplan import``, ``covplan predict``) is
inference's job: :mod:`covplan.inference.archive_reader`."""

from covplan.export.archive import export_archive

__all__ = ["export_archive"]
