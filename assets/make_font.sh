#!/usr/bin/env bash
# Rebuilds assets/DejaVuSans-ascii.ttf, the font of pegasus's plots: DejaVu Sans (Debian's
# fonts-dejavu-core) cut down to printable ASCII and a few signs with fonttools' pyftsubset
# (pip install fonttools), so the binary carries 10 KB instead of 750.
set -euo pipefail
source_font=${1:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
pyftsubset "$source_font" --unicodes="U+0020-007E,U+00B0,U+00D7,U+2212" \
  --no-hinting --layout-features='' --output-file="$(dirname "$0")/DejaVuSans-ascii.ttf"
