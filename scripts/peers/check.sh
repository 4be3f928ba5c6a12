#!/usr/bin/env bash
# Run the suite against one real peer server with its shipped profile, the models its script
# fabricates and its shipped expectations; write the reports to docs/examples/SERVER/.
# Starts the server (idempotent: installs and fabricates once) and stops it again if this script
# started it. Opt-in and slow the first time (llama-cpp-python compiles llama.cpp: ~18 min on 2 cores).
# Usage: scripts/peers/check.sh llama-cpp-python|transformers-serve|infinity|litellm [conformance run args...]
# Env:   PEERS_DIR (default /tmp/peers), CONFORMANCE (default: the project's .venv/bin/conformance),
#        OUT (default docs/examples/SERVER), KEEP=1 leaves the server running.
#        MODE=survey: instead of the run, `conformance survey` through a recording proxy
#        (tests/recording.py): the exchanges go to tests/recordings/SERVER.jsonl (replayed by
#        tests/test_survey_peers.py), the draft profile to $OUT/draft-profile.yaml.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SERVER="${1:?usage: check.sh llama-cpp-python|transformers-serve|infinity|litellm [conformance run args...]}"
shift
PEERS_DIR="${PEERS_DIR:-/tmp/peers}"
export PEERS_DIR
M="$PEERS_DIR/models"
CONFORMANCE="${CONFORMANCE:-$ROOT/.venv/bin/conformance}"
OUT="$(realpath -m "${OUT:-$ROOT/docs/examples/$SERVER}")"
# run from the project root, naming files under it relatively (the report records the paths)
cd "$ROOT"
OUT="${OUT#"$ROOT"/}"
# The servers whose profile claims `auth` (infinity, llama-cpp-python, litellm) are started with
# API_KEY (default sk-peer-test); the others take any key. The suite never prints it.
export API_KEY="${API_KEY-sk-peer-test}"
export OPENAI_API_KEY="${API_KEY:-sk-peer-any}"

DEPS=()
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
    # its embeddings and rerank models forward to infinity, which is started first
    DEPS=(infinity.sh:"$PEERS_DIR/infinity.pid")
    SCRIPT=litellm.sh; PIDFILE="$PEERS_DIR/litellm.pid"; URL=http://127.0.0.1:4000/v1
    export OPENAI_API_KEY="${LITELLM_MASTER_KEY:-sk-peer-test}"
    ARGS=(--model chat=mock-gpt --model embeddings=all-minilm-l6-v2 --model rerank=minilm-reranker) ;;
  *) echo "check.sh: unknown server '$SERVER' (llama-cpp-python, transformers-serve, infinity, litellm)" >&2; exit 2 ;;
esac

running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
STARTED=()   # the scripts whose server this run started, stopped again on exit (unless KEEP=1)
cleanup() {
  [[ "${KEEP:-0}" == 1 ]] && return 0
  local s
  for s in "${STARTED[@]}"; do bash "$HERE/$s" stop >&2 || true; done
}
trap cleanup EXIT
for dep in "${DEPS[@]}" "$SCRIPT:$PIDFILE"; do
  s="${dep%%:*}"; pf="${dep#*:}"
  running "$pf" || STARTED=("$s" "${STARTED[@]}")
  bash "$HERE/$s" start >&2
done

mkdir -p "$OUT"
set +e
if [[ "${MODE:-run}" == survey ]]; then
  RECORDING="$ROOT/tests/recordings/$SERVER.jsonl"
  mkdir -p "$(dirname "$RECORDING")"; rm -f "$RECORDING"
  ORIGIN="${URL%/v1}"; PROXY_PORT="${PROXY_PORT:-7979}"
  (cd "$ROOT" && exec "$(dirname "$CONFORMANCE")/python" -m tests.recording --upstream "$ORIGIN" --port "$PROXY_PORT" --out "$RECORDING" --key "$OPENAI_API_KEY" \
    --meta "$("$(dirname "$CONFORMANCE")/python" -c 'import json, sys; print(json.dumps({"server": sys.argv[1], "args": sys.argv[2:]}))' "$SERVER" "${ARGS[@]}" "$@")") &
  proxy=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" && break; sleep 0.2; done
  "$CONFORMANCE" survey --base-url "http://127.0.0.1:$PROXY_PORT/v1" "${ARGS[@]}" --name "$SERVER" \
    --write-profile "$OUT/draft-profile.yaml" --report-dir "$PEERS_DIR/survey-$SERVER" "$@"
  rc=$?
  kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null
  echo "check.sh: recorded $(wc -l < "$RECORDING") exchanges in $RECORDING" >&2
else
  # Every model here has random weights (the reranker a random head): what a model chooses to say
  # or rank is not this run's subject, so semantic checks count as warnings.
  ARGS+=(--semantic warn)
  EXPECT=()
  [[ -f "$OUT/expectations.yaml" ]] && EXPECT=(--expectations "$OUT/expectations.yaml")
  "$CONFORMANCE" run --base-url "$URL" --profile "$SERVER" "${ARGS[@]}" "${EXPECT[@]}" --report-dir "$OUT" "$@"
  rc=$?
  [[ -f "$OUT/report.json" ]] && "$(dirname "$CONFORMANCE")/python" "$HERE/summary.py" "$OUT/report.json" > "$OUT/SUMMARY.md"
  rm -f "$OUT/junit.xml"   # the example keeps report.json, report.html and SUMMARY.md
fi
set -e
echo "check.sh: $SERVER exit $rc; reports in $OUT" >&2
exit "$rc"
