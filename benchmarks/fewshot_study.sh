#!/usr/bin/env bash
# The few-shot recipe study of docs/results.md ("Choosing the few-shot recipe"): on the SST2 (and SST5)
# validation split only, 16 and 64 training examples, 3 seeds, each recipe of ce and tripleentropy
# beside logreg and setfit. Every recipe is one `compare` into the same run store per task, so
# logreg and setfit (which read none of the recipe's settings) run once and are paired with every
# recipe, and an interrupted study resumes where it stopped. Each recipe's summary and report are
# copied to DIR/TASK/recipes/NAME/.
#
#   bash benchmarks/fewshot_study.sh [DIR] [TASKS]     (default: runs/fewshot-study "SST2 SST5")
#
# Environment: ORDER (recipes, in order), METHODS, BASELINE, SIZES (default 16,64; the quick
# preset's sizes are 20,100) and JOBS (default 1: times comparable run to run).
set -euo pipefail
DIR=${1:-runs/fewshot-study}
TASKS=${2:-SST2 SST5}

METHODS=${METHODS:-ce,tripleentropy,logreg,setfit}
# The old recipe reads [CLS] through BERT's pooler; logreg reads the encoder's own pooling in every
# recipe (so its runs are shared), and setfit reads no pooling at all.
OLD_POOLING=$(tr , '\n' <<<"$METHODS" | awk '$0 == "logreg" {print $0 "=auto"} $0 != "logreg" && $0 != "setfit" {print $0 "=cls"}' | paste -sd,)
# Every entry starts from --recipe classic, the defaults these recipes were measured against.
declare -A RECIPES=(
  [old]="--recipe classic --epochs 8 --pooling $OLD_POOLING"
  [mean]="--recipe classic --epochs 8 --pooling auto"
  [mean-probe]="--recipe classic --epochs 8 --pooling auto --head-init probe"
  [mean-probe-50steps]="--recipe classic --epochs 8 --pooling auto --head-init probe --min-steps 50"
  [mean-probe-50steps-lr5e-5]="--recipe classic --epochs 8 --pooling auto --head-init probe --min-steps 50 --lr 5e-5"
  [new]="--recipe classic --epochs 8 --pooling auto --head-init probe --min-steps 50 --lr 5e-5 --center-init kmeans --softtriple-input mean"
)
ORDER=${ORDER:-old new mean-probe-50steps-lr5e-5 mean-probe mean mean-probe-50steps}
BASELINE=${BASELINE:-ce,setfit}
SIZES=${SIZES:-16,64}
JOBS=${JOBS:-1}

for task in $TASKS; do
  for name in $ORDER; do
    # shellcheck disable=SC2086
    tripleentropy compare --task "$task" --eval-split validation --max-eval 500 --train-sizes "$SIZES" --seeds 3 \
      --jobs "$JOBS" --quiet --methods "$METHODS" --baseline "$BASELINE" ${RECIPES[$name]} --output-dir "$DIR/$task"
    mkdir -p "$DIR/$task/recipes/$name"
    cp "$DIR/$task/summary.json" "$DIR/$task/report.md" "$DIR/$task/recipes/$name/"
  done
done
