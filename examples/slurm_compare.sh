#!/usr/bin/env bash
#SBATCH --job-name=tripleentropy-compare
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=%x-%A_%a.out
#
# One `tripleentropy compare` grid spread over a Slurm array: array task I runs part I of PARTS
# (`--shard I/PARTS`), every task writing into the same OUTPUT_DIR on a shared file system (each
# run is stored atomically under its own key, so parts never clash). Once every task has ended, a
# last job writes summary.json, report.md and the plots from all stored runs (`--report-only`).
#
# On the login node, from the repository (or anywhere `tripleentropy` is installed):
#
#     bash examples/slurm_compare.sh
#     PARTS=8 OUTPUT_DIR=runs/sst2 COMPARE_ARGS="--task SST2 --train-sizes 20,100 --seeds 10" bash examples/slurm_compare.sh
#
# sbatch passes the environment on, so the array tasks see the same PARTS, OUTPUT_DIR and
# COMPARE_ARGS. Resubmitting after a failure or a time-out reruns only the runs that are missing.
# With `--tune N` in COMPARE_ARGS every part also works on every tuning study (one shared count
# per study in the SQLite file OUTPUT_DIR/tune/study.db, or pass --storage URL of a database
# server); each part starts its runs once the studies are finished.

set -euo pipefail

PARTS=${PARTS:-4}
OUTPUT_DIR=${OUTPUT_DIR:-runs/cr-slurm}
COMPARE_ARGS=${COMPARE_ARGS:---task CR --train-sizes 20,100 --seeds 10 --epochs 8}
TRIPLEENTROPY=${TRIPLEENTROPY:-tripleentropy}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    array=$(sbatch --parsable --array="1-${PARTS}" "$0")
    report=$(sbatch --parsable --dependency="afterany:${array}" --job-name=tripleentropy-report \
        --wrap="${TRIPLEENTROPY} compare ${COMPARE_ARGS} --output-dir ${OUTPUT_DIR} --report-only --quiet")
    echo "submitted array job ${array} (${PARTS} parts) and report job ${report}: see ${OUTPUT_DIR}/report.md"
    exit 0
fi

# shellcheck disable=SC2086  # COMPARE_ARGS is a list of flags
exec ${TRIPLEENTROPY} compare ${COMPARE_ARGS} --output-dir "${OUTPUT_DIR}" --shard "${SLURM_ARRAY_TASK_ID}/${PARTS}" --quiet
