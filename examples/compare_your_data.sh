#!/usr/bin/env bash
# Is TripleEntropy better than cross-entropy on your data? One `tripleentropy compare`: every
# method trains on the same samples of your data from the same initial weights, and the report
# gives the paired differences against cross-entropy with a 95% confidence interval. From the
# repository, after `make setup` and `source .venv/bin/activate` (or wherever `tripleentropy` is
# installed):
#
#     bash examples/compare_your_data.sh DATA_FILE [TEST_FILE]
#     METHODS=ce,tripleentropy,setfit TRAIN_SIZES=8/class,16/class bash examples/compare_your_data.sh mine.csv
#
# DATA_FILE is a CSV, TSV or JSON Lines file with a text and a label column. With TEST_FILE every
# run is tested on it; without it, DATA_FILE is split into 10 stratified folds and seed i tests on
# fold i, training on a sample of the others. Settings from the environment:
#
#     TEXT_COLUMN, LABEL_COLUMN  the columns' names (default: text, label)
#     METHODS       the methods, ce (the baseline) among them (default: ce,tripleentropy; also supcon, logreg, setfit)
#     TRAIN_SIZES   training-set sizes: N examples, N/class, or full (default: 20,100)
#     SEEDS         training samples per size (default: 5)
#     MODEL         the encoder (default: minilm, the bundled all-MiniLM-L6-v2)
#     OUTPUT_DIR    where the runs and the report go (default: runs/compare-your-data)
#     COMPARE_ARGS  more `tripleentropy compare` flags, e.g. "--tune 20" or "--lr ce=5e-5,tripleentropy=1e-4"
#
# Running it again does only the runs that are missing.

set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: bash examples/compare_your_data.sh DATA_FILE [TEST_FILE]" >&2
    exit 2
fi
DATA_FILE=$1
COLUMN_FLAGS=(--text-column "${TEXT_COLUMN:-text}" --label-column "${LABEL_COLUMN:-label}")
CHECK=(tripleentropy data check "$DATA_FILE" "${COLUMN_FLAGS[@]}")
COMPARE=(tripleentropy compare --train "$DATA_FILE" "${COLUMN_FLAGS[@]}")
if [[ $# -eq 2 ]]; then
    CHECK+=(--eval-file "$2")
    COMPARE+=(--test "$2")
fi

# Read the files the way compare does: the first problem, with its file and line, or the examples
# per label.
"${CHECK[@]}"

# shellcheck disable=SC2086  # COMPARE_ARGS is a list of flags
"${COMPARE[@]}" --methods "${METHODS:-ce,tripleentropy}" --train-sizes "${TRAIN_SIZES:-20,100}" \
    --seeds "${SEEDS:-5}" --model "${MODEL:-minilm}" --output-dir "${OUTPUT_DIR:-runs/compare-your-data}" \
    ${COMPARE_ARGS:-}
