#!/usr/bin/env bash
# The fewshot preset's 16-example samples with SetFit as its paper ran it (20 iterations), beside
# TripleEntropy under the few-shot recipe and logreg (docs/results.md, "SetFit at its paper's
# 20 iterations, 16 examples"): one `compare` per task into DIR/TASK, then the pooled comparison
# against setfit. Resumable: an interrupted run trains only what is missing.
#
#   bash benchmarks/fewshot_setfit20.sh [DIR] [TASKS]   (default: runs/fewshot-sf20, all eight tasks)
set -euo pipefail
DIR=${1:-runs/fewshot-sf20}
TASKS=${2:-TREC CR SST5 MRPC SUBJ MPQA MR SST2}
RECIPE="--pooling auto --head-init probe --min-steps 50 --lr 5e-5 --epochs 8 --center-init kmeans --softtriple-input mean --max-length 64"
for task in $TASKS; do
  # shellcheck disable=SC2086
  tripleentropy compare --task "$task" --model minilm --methods tripleentropy,setfit,logreg --baseline setfit \
    --train-sizes 16 --seeds 5 --max-eval 500 --jobs 1 --quiet $RECIPE --setfit-iterations 20 \
    --output-dir "$DIR/$task"
done
python benchmarks/pool_tasks.py "$DIR" --baseline setfit
