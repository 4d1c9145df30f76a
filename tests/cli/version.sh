# `peer --version` prints the commit the binary was built from: `git rev-parse --short HEAD` of
# the source tree, +dirty with uncommitted changes to tracked files. A binary built before the
# tree last changed fails here: rebuild (cmake --build build) and test again.
# usage: bash version.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
expect_exit 0 "$PEER" --version
got="$(cat "$LAST_OUT")"
if ! want=$(git -C "$SRC" rev-parse --short HEAD 2> /dev/null); then
  [[ "$got" == "peer unknown" ]] || fail "outside a git checkout, peer --version printed '$got', expected 'peer unknown'"
  note "skipped the commit check: $SRC is not a git checkout"
  exit 0
fi
[[ -z "$(git --no-optional-locks -C "$SRC" status --porcelain --untracked-files=no)" ]] || want+="+dirty"
[[ "$got" == "peer $want" ]] || fail "peer --version printed '$got', the source tree is at 'peer $want' (binary not rebuilt?)"
note "ok: $got"
