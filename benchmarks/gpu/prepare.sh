#!/usr/bin/env bash
# Here, on the CPU machine, before a call on a lent CUDA machine (see run.sh): put into .gpu/
# (git-ignored; the call carries it) what that machine's image lacks: wheels of Snakemake and
# jsonschema for its Python 3.12, and Fashion-MNIST's IDX files (it cannot reach a network).
#   benchmarks/gpu/prepare.sh            # then: device run, carry [".gpu"], command "bash benchmarks/gpu/run.sh"
set -euo pipefail
cd "$(dirname "$0")/../.."
for PY312 in ${PY312:-} python3.12 /root/.pyenv/versions/3.12*/bin/python; do
    "$PY312" -c "import sys; assert sys.version_info[:2] == (3, 12)" 2>/dev/null && break
done
"$PY312" -c "import sys; assert sys.version_info[:2] == (3, 12)" 2>/dev/null || {
    echo "prepare.sh: error: no Python 3.12 here (set PY312): the wheels must match the device image's" >&2; exit 1; }
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/fashion-mnist
"$PY312" -m pip wheel -q snakemake==9.27.1 "jsonschema==4.26.*" -w .gpu/whl 2>&1 | grep -v "^WARNING: Location" || true
# The image has these (its own versions); two versions of one package stop the install there.
for have in attrs certifi charset_normalizer idna jinja2 markupsafe packaging psutil pyyaml requests tabulate \
            typing_extensions urllib3 wrapt; do
    rm -f .gpu/whl/"$have"-*.whl
done
# PuLP's wheel is 16 MB of bundled CBC solvers: run.sh uses the greedy scheduler, so keep its Python only.
pulp=$(ls .gpu/whl/pulp-*.whl)
python3 - "$pulp" <<'PY'
import sys, zipfile
src = sys.argv[1]
with zipfile.ZipFile(src) as z:
    items = [(i, z.read(i)) for i in z.infolist() if "/solverdir/" not in i.filename]
with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as z:
    for info, data in items:
        z.writestr(info, data)
PY
cp "$FASHION"/*-ubyte.gz .gpu/fashion-mnist/
du -sh .gpu
