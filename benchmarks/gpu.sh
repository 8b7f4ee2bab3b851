#!/usr/bin/env bash
# The GPU run of issue 14: the throughput table and one global-model epoch over the 505
# S&P 500 tickers, on CUDA, printing the same tables as on the CPU. Needs a CUDA GPU, the
# project's .venv (with a CUDA build of torch) and the sandp500 folder; about 5 minutes.
#
#   benchmarks/gpu.sh [SANDP500_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${1:-../shared/data/sandp500/individual_stocks_5yr}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
echo "== throughput, CUDA (windows/s; rnnlab's loop beside a raw PyTorch loop)"
"$PY" benchmarks/throughput.py --device cuda --repeats 3
echo "== the same with bfloat16 autocast (--amp): one rnnlab train on stock:A"
out=$(mktemp -d)
/usr/bin/time -v "$PY" -m rnnlab.cli train --data stock:A --device cuda --amp --out "$out/amp" \
    --no-progress 2>&1 | grep -E "lstm|naive|Elapsed|Maximum resident"
/usr/bin/time -v "$PY" -m rnnlab.cli train --data stock:A --device cuda --out "$out/fp32" \
    --no-progress 2>&1 | grep -E "lstm|naive|Elapsed|Maximum resident"
if [ -d "$DATA" ]; then
    echo "== one epoch of the global lstm over every ticker in $DATA, CUDA"
    /usr/bin/time -v "$PY" -m rnnlab.cli train --data "$DATA" --global --epochs 1 \
        --device cuda --out "$out/global" --no-progress 2>&1 \
        | grep -vE "^\s+(Page|Volun|Invol|Swaps|File|Socket|Signals|Average|Exit|Minor|Major|Percent|System|User)"
else
    echo "no sandp500 folder at $DATA: the global epoch is skipped"
fi
rm -rf "$out"
