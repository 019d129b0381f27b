"""Single source of truth for split names, file names and column names of the run store.

The writer, ``finish()``, the signals, ``dq.metrics`` and the console all import their names from
here. Layout of one run (``<root>/<project>/<run>/``)::

    run.json                                            manifest
    inputs/<split>[/<inference_name>]/part-*.parquet    log_dataset / log_data_samples
    outputs/<split>/<epoch>/part-*.arrow                log_model_outputs (ids, embs, logits)
    outputs/inference/<inference_name>/part-*.arrow
    results/<split>[/<inference_name>]/samples.parquet  one row per sample, every signal
    results/<split>[/<inference_name>]/embeddings.npy   final-epoch embeddings, row-aligned
    results/<split>[/<inference_name>]/probs.npy        final-epoch probabilities, row-aligned
    results/<split>/dynamics.parquet                    per-epoch training dynamics
    results/summary.json                                per-split metrics and alerts
"""

from __future__ import annotations

import re

# --- splits -------------------------------------------------------------------------------------

TRAIN = "training"
VALIDATION = "validation"
TEST = "test"
INFERENCE = "inference"
SPLITS = (TRAIN, VALIDATION, TEST, INFERENCE)
LABELED_SPLITS = (TRAIN, VALIDATION, TEST)

SPLIT_ALIASES = {
    "train": TRAIN,
    "training": TRAIN,
    "validation": VALIDATION,
    "val": VALIDATION,
    "valid": VALIDATION,
    "dev": VALIDATION,
    "test": TEST,
    "testing": TEST,
    "inference": INFERENCE,
}

# --- files --------------------------------------------------------------------------------------

MANIFEST = "run.json"
INPUTS_DIR = "inputs"
OUTPUTS_DIR = "outputs"
RESULTS_DIR = "results"
SAMPLES_FILE = "samples.parquet"
EMBEDDINGS_FILE = "embeddings.npy"
PROBS_FILE = "probs.npy"
DYNAMICS_FILE = "dynamics.parquet"
SUMMARY_FILE = "summary.json"
INPUT_PART_SUFFIX = ".parquet"
OUTPUT_PART_SUFFIX = ".arrow"
TMP_PREFIX = ".tmp-"
STORE_FORMAT_VERSION = 1

# --- columns ------------------------------------------------------------------------------------

# inputs/ parts
ID = "id"
TEXT = "text"
TEXT_PAIR = "text_pair"
GOLD = "gold"  # label name (string)
GOLD_INDEX = "gold_index"  # integer label, kept until labels are known
# outputs/ parts
EMB = "emb"
LOGITS = "logits"
# results/ samples.parquet
PRED = "pred"
CONFIDENCE = "confidence"
# results/ dynamics.parquet
EPOCH = "epoch"
GOLD_PROB = "gold_prob"
MARGIN = "margin"
PROB = "prob"

# Column names a user's meta column may not take: they are ours in some table.
RESERVED_COLUMNS = frozenset(
    {ID, TEXT, TEXT_PAIR, GOLD, GOLD_INDEX, EMB, LOGITS, PRED, CONFIDENCE, EPOCH, GOLD_PROB,
     MARGIN, PROB, "label", "split", "inference_name", "data_error_potential", "aum",
     "confidence_mean", "variability", "correctness", "is_misclassified", "likely_mislabeled",
     "is_on_the_boundary", "cluster_id", "x", "y", "drift_score", "is_drifted", "certainty_ratio",
     "knn_distance", "similarity", "edited", "selected_for_label", "_row", "file_row_number",
     # NER
     "text_token_indices", "token_starts", "token_ends", "gold_spans", "pred_spans", "n_gold_spans",
     "n_pred_spans", "n_errors", "wrong_tag", "span_shift", "ghost_span", "missed_label"}
)

# Project and run names become folder names: letters, digits, '-', '_', '.', not starting with '.'.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def split_key(split: str, inference_name: str | None = None) -> str:
    """The relative folder of a split: ``training`` or ``inference/<name>``."""
    return f"{INFERENCE}/{inference_name}" if split == INFERENCE else split
