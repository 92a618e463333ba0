#!/usr/bin/env bash
# make lint: what can be checked without a Docker engine, in well under 30 s.
#   1. shellcheck on every shell script (postfix/, scripts/, .ci/);
#   2. docker-compose.yml resolved by Debian's docker-compose (v1: its bundled compose-spec schema)
#      without a .env and with .env.example, each also with the imap profile, with no variable left
#      unset, then the appliance's own rules on every result (scripts/lint/compose.mjs);
#   3. every Dockerfile parsed, its COPY sources checked against the context and .dockerignore, and the
#      runtime stage of each Node image replayed natively: its `npm ci --omit=dev -w …`, then its
#      entrypoint with --help (scripts/lint/dockerfile.mjs);
#   4. the Postfix image: its healthcheck script, its configuration rendered with its own ENV and the
#      compose environment and passed through `postfix check`, its packages resolved by
#      `apt-get install --simulate` (scripts/lint/postfix-image.mjs).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failed=()

# The Node images ship the bundles (dist/), which the replays take from this checkout: build them first.
node scripts/build.mjs >/dev/null
# The Dockerfile replays take longest (npm ci), so they run in the background while the rest runs.
# Each image: its Dockerfile and build context (those built by docker-compose.yml, and the others).
images=(postfix/Dockerfile:postfix catchall-lmtp/Dockerfile:. broker-dev/Dockerfile:. imap-collector/Dockerfile:.)
mapfile -t found < <(git ls-files --cached --others --exclude-standard -- '*Dockerfile' | sort)
for f in "${found[@]}"; do
  [[ " ${images[*]} " == *" $f:"* ]] || failed+=("lint.sh: $f is not in the list of images to check (add it with its build context)")
done
for image in "${images[@]}"; do
  dockerfile=${image%%:*} context=${image#*:}
  [[ -f $dockerfile ]] || continue
  node scripts/lint/dockerfile.mjs "$context" "$dockerfile" >"$tmp/${dockerfile//\//_}.out" 2>&1 &
  pids+=("$!:$dockerfile")
done

# ---- shell scripts ------------------------------------------------------------------------------------
mapfile -t scripts < <(
  git ls-files --cached --others --exclude-standard -- postfix scripts .ci | while read -r f; do
    [[ -f $f ]] || continue
    if [[ $f == *.sh ]] || head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then echo "$f"; fi
  done
)
if shellcheck --external-sources --source-path=SCRIPTDIR "${scripts[@]}"; then
  echo "shellcheck: ok (${#scripts[@]} scripts)"
else
  failed+=("shellcheck")
fi

# ---- docker-compose.yml -------------------------------------------------------------------------------
# A clean environment, so variables exported in this shell cannot hide a missing default.
: >"$tmp/empty.env"
compose_variant() { # NAME ENV_FILE [VAR=VALUE...]
  if env -i PATH="$PATH" HOME="$HOME" "${@:3}" docker-compose --project-directory "$ROOT" -f docker-compose.yml \
    --env-file "$2" config >"$tmp/compose-$1.yml" 2>"$tmp/compose-$1.err" && ! grep -q WARNING "$tmp/compose-$1.err"; then
    return 0
  fi
  echo "docker-compose config ($1):" >&2
  cat "$tmp/compose-$1.err" >&2
  failed+=("docker-compose config ($1)")
  return 1
}
# The imap profile too (the environment wins over the env file, as in compose).
if compose_variant no-env "$tmp/empty.env" && compose_variant env-example .env.example &&
  compose_variant imap "$tmp/empty.env" COMPOSE_PROFILES=imap && compose_variant env-example-imap .env.example COMPOSE_PROFILES=dev,imap; then
  node scripts/lint/compose.mjs "$tmp"/compose-{no-env,env-example,imap,env-example-imap}.yml || failed+=("compose rules")
  # The Postfix image: its configuration as the container renders it (with the compose environment).
  node scripts/lint/postfix-image.mjs postfix/Dockerfile "$tmp"/compose-{no-env,env-example}.yml || failed+=("postfix image")
fi

# ---- Dockerfiles ----------------------------------------------------------------------------------------
for entry in "${pids[@]}"; do
  pid=${entry%%:*} dockerfile=${entry#*:}
  if wait "$pid"; then cat "$tmp/${dockerfile//\//_}.out"; else
    cat "$tmp/${dockerfile//\//_}.out" >&2
    failed+=("$dockerfile")
  fi
done
pids=()

if ((${#failed[@]})); then
  printf 'lint: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint: ok"
