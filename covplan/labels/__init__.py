"""Label maps as every stage sees them: reading them from a folder (``files``), what the
dataset's labels mean (``roles``: lung, lesions, regions), measuring masks (``masks``:
physical grid, bounding boxes, connected components, overlap counts to metrics) and the lung
mask derived from an image alone (``lung_mask``: the report's lungs, ``--crop lung``'s box).
Evaluation and post-processing both build on this package, and neither imports the other's."""
