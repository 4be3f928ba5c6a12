#!/usr/bin/env bash
# Run the suite against one real peer server with its shipped profile, the models its script
# fabricates and its shipped expectations; write the reports to docs/examples/SERVER/.
# Starts the server (idempotent: installs and fabricates once) and stops it again if this script
# started it. Opt-in and slow the first time (llama-cpp-python compiles llama.cpp: ~18 min on 2 cores).
# Usage: scripts/peers/check.sh llama-cpp-python|transformers-serve|infinity|litellm [conformance run args...]
# Env:   PEERS_DIR (default /tmp/peers), CONFORMANCE (default: the project's .venv/bin/conformance),
#        OUT (default docs/examples/SERVER), KEEP=1 leaves the server running.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SERVER="${1:?usage: check.sh llama-cpp-python|transformers-serve|infinity|litellm [conformance run args...]}"
shift
PEERS_DIR="${PEERS_DIR:-/tmp/peers}"
export PEERS_DIR
M="$PEERS_DIR/models"
CONFORMANCE="${CONFORMANCE:-$ROOT/.venv/bin/conformance}"
OUT="${OUT:-$ROOT/docs/examples/$SERVER}"
# Servers without authentication take any key; the suite needs one (it never prints it).
export OPENAI_API_KEY="${OPENAI_API_KEY:-sk-peer-any}"

case "$SERVER" in
  llama-cpp-python)
    SCRIPT=llama_cpp.sh; PIDFILE="$PEERS_DIR/llamacpp.pid"; URL=http://127.0.0.1:8001/v1
    ARGS=(--model chat=tiny-llama --model tools=tiny-llama-fc --model embeddings=all-minilm-l6-v2) ;;
  transformers-serve)
    # unpinned: the chat model and the Whisper model both load on demand by path
    export UNPINNED=1
    SCRIPT=transformers_serve.sh; PIDFILE="$PEERS_DIR/tfserve-8002.pid"; URL=http://127.0.0.1:8002/v1
    ARGS=(--model "chat=$M/tiny-llama-hf" --model "transcription=$M/tiny-whisper") ;;
  infinity)
    SCRIPT=infinity.sh; PIDFILE="$PEERS_DIR/infinity.pid"; URL=http://127.0.0.1:7997/v1
    ARGS=(--model embeddings=all-minilm-l6-v2 --model rerank=minilm-reranker) ;;
  litellm)
    SCRIPT=litellm.sh; PIDFILE="$PEERS_DIR/litellm.pid"; URL=http://127.0.0.1:4000/v1
    export OPENAI_API_KEY="${LITELLM_MASTER_KEY-sk-peer-test}"
    ARGS=(--model chat=mock-gpt --model embeddings=all-minilm-l6-v2 --model rerank=minilm-reranker) ;;
  *) echo "check.sh: unknown server '$SERVER' (llama-cpp-python, transformers-serve, infinity, litellm)" >&2; exit 2 ;;
esac

started=0
if ! { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then started=1; fi
bash "$HERE/$SCRIPT" start >&2
cleanup() { if [[ "$started" == 1 && "${KEEP:-0}" != 1 ]]; then bash "$HERE/$SCRIPT" stop >&2 || true; fi; }
trap cleanup EXIT

EXPECT=()
[[ -f "$OUT/expectations.yaml" ]] && EXPECT=(--expectations "$OUT/expectations.yaml")
mkdir -p "$OUT"
set +e
"$CONFORMANCE" run --base-url "$URL" --profile "$SERVER" "${ARGS[@]}" "${EXPECT[@]}" --report-dir "$OUT" "$@"
rc=$?
set -e
echo "check.sh: $SERVER exit $rc; reports in $OUT" >&2
exit "$rc"
