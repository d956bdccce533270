"""The name of a configuration's preprocessed-data folder, shared by the configurations
(of any architecture) whose preprocessing is equal."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from covplan.work_folder import DATA_FOLDER_PREFIX

# Values of a configuration that decide what preprocessing writes: configurations that
# agree on all of them share one data folder, whatever their patch, batch or network.
PREPROCESSING_KEYS = ("preprocessor_name", "spacing", "normalization_schemes", "use_mask_for_norm",
                      "resampling_fn_data", "resampling_fn_data_kwargs", "resampling_fn_seg",
                      "resampling_fn_seg_kwargs")


def shared_data_identifier(configuration: str, plan: dict[str, Any], plans: dict[str, Any]) -> str:
    """The preprocessed-data folder of a configuration: named by the configuration and a
    digest of everything that shapes the preprocessed data, so architectures that agree
    on it (they differ only in patch, batch and network) share one copy."""
    # Departs from nnU-Net's "<plans_name>_<configuration>": one copy per architecture
    # would preprocess the same data once per plugin.
    content = {key: plan[key] for key in PREPROCESSING_KEYS}
    content["transpose_forward"] = plans["transpose_forward"]
    content["foreground_intensity_properties_per_channel"] = plans["foreground_intensity_properties_per_channel"]
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return f"{DATA_FOLDER_PREFIX}{configuration}_{digest}"
