#!/usr/bin/env bash
# Your own CSV end to end: check the files, fine-tune with the default recipe, evaluate on held-out
# data and label new text. From the repository, after `make setup` and
# `source .venv/bin/activate` (or wherever `tripleentropy` is installed):
#
#     bash examples/your_csv.sh TRAIN_FILE TEST_FILE [NEW_FILE]
#     TEXT_COLUMN=review LABEL_COLUMN=stars bash examples/your_csv.sh reviews.csv reviews-test.csv new.txt
#
# TRAIN_FILE and TEST_FILE are CSV, TSV or JSON Lines files with a text and a label column.
# NEW_FILE is the text to label: such a file (a label column in it is ignored) or a .txt file with
# one text per line; without it, the texts of TEST_FILE are labelled. Settings from the environment:
#
#     TEXT_COLUMN, LABEL_COLUMN  the columns' names (default: text, label)
#     MODEL                      the encoder to fine-tune (default: minilm, the bundled all-MiniLM-L6-v2)
#     OUTPUT_DIR                 where the trained model goes (default: models/your-csv)
#     TRAIN_ARGS                 more `tripleentropy train` flags, e.g. "--train-size 16/class --loss ce"
#
# The predictions go to OUTPUT_DIR/predictions.jsonl. The model directory loads without this
# package too: see "Loading a model without this package" in docs/guide.md.

set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: bash examples/your_csv.sh TRAIN_FILE TEST_FILE [NEW_FILE]" >&2
    exit 2
fi
TRAIN_FILE=$1
TEST_FILE=$2
NEW_FILE=${3:-$2}
MODEL=${MODEL:-minilm}
OUTPUT_DIR=${OUTPUT_DIR:-models/your-csv}
TRAIN_ARGS=${TRAIN_ARGS:-}
TEXT=(--text-column "${TEXT_COLUMN:-text}")
LABEL=(--label-column "${LABEL_COLUMN:-label}")

# 1. Read both files the way training does: the first problem, with its file and line, or the
#    examples per label.
tripleentropy data check "$TRAIN_FILE" --eval-file "$TEST_FILE" "${TEXT[@]}" "${LABEL[@]}"

# 2. Fine-tune and save a Hugging Face model directory.
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
tripleentropy train --train "$TRAIN_FILE" "${TEXT[@]}" "${LABEL[@]}" --model "$MODEL" --output-dir "$OUTPUT_DIR" \
    $TRAIN_ARGS

# 3. Accuracy and F1 on the held-out file, beside the rate of always predicting its most frequent label.
tripleentropy evaluate --model-dir "$OUTPUT_DIR" --data "$TEST_FILE" "${TEXT[@]}" "${LABEL[@]}"

# 4. Label new text: one JSON line per text, with the label and its probability.
tripleentropy predict --model-dir "$OUTPUT_DIR" --input "$NEW_FILE" "${TEXT[@]}" \
    --output "$OUTPUT_DIR/predictions.jsonl"
echo "predictions: $OUTPUT_DIR/predictions.jsonl"
