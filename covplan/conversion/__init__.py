"""Dataset conversion: the converter plugin contract (``base``), the shared machinery every
converter uses (``dataset``: cases to nnU-Net's raw layout plus ``covplan_dataset.json``;
``images``: reading and checking; ``raw_dataset``: a raw dataset's description, cases and
patients read once, for planning; ``slice_reader``: one 2D slice, for converters and predict;
``output``: output folders that appear whole) and the
definition of covplan's slice format (``slice_format``)."""
