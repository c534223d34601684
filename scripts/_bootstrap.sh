# Sourced by the scripts in this folder: make `uv` available and the workspace installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "==> installing uv from PyPI" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
# Only one build of llama-cpp-python runs at a time; another uv process waits for it instead of
# failing after uv's default 5 minutes.
export UV_LOCK_TIMEOUT="${UV_LOCK_TIMEOUT:-3600}"
echo "==> installing the workspace (all packages, all extras; the first run compiles llama-cpp-python)" >&2
uv sync --all-packages --all-extras --quiet
