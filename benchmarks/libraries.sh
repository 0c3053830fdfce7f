#!/usr/bin/env bash
# Build the separate benchmark environment (Lucent, tf-keras-vis, stviz) and run the comparison:
#   bash benchmarks/libraries.sh
# The environment lives in .benchenv (git-ignored) and never touches the project's own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .benchenv/bin/python ]; then
    python3 -m venv .benchenv
    .benchenv/bin/pip install -q torch==2.13.0
    .benchenv/bin/pip install -q --no-deps torch-lucent==0.1.8 "kornia<=0.4.1"
    .benchenv/bin/pip install -q tensorflow-cpu==2.21.0 keras==3.15.1 tf-keras-vis==0.8.7 \
        numpy array-api-compat tqdm ipython pillow scikit-image matplotlib decorator
    .benchenv/bin/pip install -q --no-deps -e .
fi
cd benchmarks && ../.benchenv/bin/python libraries.py "$@"
