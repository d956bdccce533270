"""Label maps as every stage sees them: reading them from a folder (``files``), what the
dataset's labels mean (``roles``: lung, lesions, regions) and measuring masks (``masks``:
physical grid, bounding boxes, connected components, overlap counts to metrics). Evaluation
and post-processing both build on this package, and neither imports the other's."""
