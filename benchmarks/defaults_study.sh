#!/usr/bin/env bash
# The defaults study (docs/results/defaults-study): the classic settings (`--recipe classic`: [CLS]
# through the pooler, a random head, 3 epochs at lr 1e-4, max length 64, uniform centers on the
# tokens) against the default recipe (mean pooling where the encoder was trained for it, a head
# from a probe, 8 epochs and at least 50 steps at lr 5e-5, the encoder's maximum length, k-means
# centers on the pooled vector), CE and TripleEntropy, 3 seeds, on validation data only: the SST2
# and SST5 validation splits, and inner folds of the training part for TREC and CR. Each recipe
# is spelled out in flags, so the study means the same whatever the defaults. Every task is one
# run store holding every recipe, so an interrupted study resumes where it stopped; each recipe's
# summary and report are copied to DIR/TASK/recipes/NAME-SIZES/.
#
#   bash benchmarks/defaults_study.sh [DIR] [TASKS] [SIZE GROUPS]
#   (default: runs/defaults-study "SST2 SST5 TREC CR" "16,64 256 1024")
#
# Environment: ORDER (recipes, in order; default "classic default"), MODEL (default minilm),
# SEEDS (default 3), JOBS (default 2).
set -euo pipefail
DIR=${1:-runs/defaults-study}
TASKS=${2:-SST2 SST5 TREC CR}
GROUPS_=${3:-16,64 256 1024}

declare -A RECIPES=(
  [classic]="--pooling cls --head-init random --lr 1e-4 --epochs 3 --min-steps 0 --max-length 64 --center-init uniform --softtriple-input tokens"
  [default]="--pooling auto --head-init probe --lr 5e-5 --epochs 8 --min-steps 50 --max-length 256 --center-init kmeans --softtriple-input mean"
  [default-3-epochs]="--pooling auto --head-init probe --lr 5e-5 --epochs 3 --min-steps 50 --max-length 256 --center-init kmeans --softtriple-input mean"
)
ORDER=${ORDER:-classic default}
MODEL=${MODEL:-minilm}
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-2}

for sizes in $GROUPS_; do
  for task in $TASKS; do
    for name in $ORDER; do
      # shellcheck disable=SC2086
      tripleentropy compare --task "$task" --eval-split validation --max-eval 500 --train-sizes "$sizes" \
        --seeds "$SEEDS" --jobs "$JOBS" --quiet --methods ce,tripleentropy --model "$MODEL" ${RECIPES[$name]} \
        --output-dir "$DIR/$task"
      mkdir -p "$DIR/$task/recipes/$name-${sizes//,/-}"
      cp "$DIR/$task/summary.json" "$DIR/$task/report.md" "$DIR/$task/recipes/$name-${sizes//,/-}/"
    done
  done
done
