"""Post-processing of predicted label maps: rules chosen on cross-validation predictions
(``covplan find-best``), stored with the model and applied by ``covplan predict``."""

from covplan.postprocessing.choose import (
    POSTPROCESSING_FILE,
    choose_postprocessing,
    load_postprocessing,
    save_postprocessing,
)
from covplan.postprocessing.rules import (
    RULES,
    apply_postprocessing,
    fill_holes,
    keep_largest,
    remove_small_components,
    restrict_to_lung,
)

__all__ = ["POSTPROCESSING_FILE", "RULES", "apply_postprocessing", "choose_postprocessing", "fill_holes",
           "keep_largest", "load_postprocessing", "remove_small_components", "restrict_to_lung",
           "save_postprocessing"]
