"""Why weight faults hurt one network more than another: ``measure`` (torch) measures a trained
network's fault-relevant structure on its evaluation images; ``infer`` (tables only) reads those
measurements over networks, beside the share each keeps under faults and the interventions.
Import the one you need: the tables never import torch."""

# The layer table's columns (``measure.layer_table``); a network summary averages the last five,
# weighted by each layer's stored weights.
BASE_COLUMNS = ["layer", "index", "weights", "input_units", "input_density", "dead_input_share",
                "negative_code_share", "zero_code_share", "max_over_rms"]
SUMMARY_BASE = BASE_COLUMNS[4:]  # the columns a network summary averages, weighted by weights
