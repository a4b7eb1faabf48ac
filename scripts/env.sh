# Sourced by the scripts: one cargo target directory outside the clone, so CI and the
# demo reuse earlier builds (DataFusion takes minutes to compile on 2 cores), while a
# fresh machine simply starts it empty.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmflow-target}"
mkdir -p "$CARGO_TARGET_DIR"
