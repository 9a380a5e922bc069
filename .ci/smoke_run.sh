#!/usr/bin/env bash
# Start `make run` with no DATABASE_URL/REDIS_URL, wait for the printed dashboard
# URL, fetch the login page, press Ctrl-C (SIGINT to the process group, as a
# terminal does), and check that every process it started has exited.
set -euo pipefail
log=$(mktemp)
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
export HYDITE_PORT="${HYDITE_PORT:-8765}" HYDITE_MOCK_PORT="${HYDITE_MOCK_PORT:-9765}"
setsid make run >"$log" 2>&1 &
leader=$!

fail() { echo "smoke: $*"; tail -n 60 "$log"; kill -INT -- "-$leader" 2>/dev/null || true; exit 1; }

url=""
for _ in $(seq 1 180); do
  url=$(sed -n 's/^ *Dashboard: *\(http[^ ]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$url" ] && break
  kill -0 "$leader" 2>/dev/null || fail "make run exited early"
  sleep 1
done
[ -n "$url" ] || fail "no dashboard URL printed"
echo "smoke: dashboard at $url"
grep -q "Admin login: admin@" "$log" || fail "no admin login printed"
curl -fsS "${url}accounts/login/" | grep -q 'name="password"' || fail "login page did not render"
curl -fsS "${url}healthz" | grep -q '"status": "ok"' || fail "healthz not ok"
key=$(sed -n 's/^ *Demo key: *\(sk-hydite-[0-9a-f]*\).*/\1/p' "$log" | head -n 1)
[ -n "$key" ] || fail "no demo key printed"
curl -fsS "${url}v1/models" -H "Authorization: Bearer $key" | grep -q '"gpt-4o-mini"' || fail "/v1/models did not list the demo model"
curl -fsS "${url}v1/chat/completions" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"ping"}]}' | grep -q '"total_tokens"' \
  || fail "the printed curl got no completion through the mock provider"
admin_key=$(sed -n 's/^ *Admin key: *\(sk-hydite-admin-[0-9a-f]*\).*/\1/p' "$log" | head -n 1)
[ -n "$admin_key" ] || fail "no management key printed"
curl -fsS "${url}key/list" -H "Authorization: Bearer $admin_key" | grep -q '"total_count"' || fail "/key/list refused the printed management key"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url")
[ "$code" = 302 ] || fail "anonymous dashboard should redirect to login, got $code"

# The newcomer walkthrough: a sign-up's confirmation link is printed on the console.
jar=$(mktemp)
token=$(curl -fsS -c "$jar" "${url}accounts/signup/" | sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$token" ] || fail "the sign-up page has no form"
newcomer="smoke-$RANDOM@example.test"
curl -fsS -b "$jar" -c "$jar" -o /dev/null -e "${url}accounts/signup/" "${url}accounts/signup/" \
  --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode "email=$newcomer" \
  --data-urlencode "password1=smoke-Passphrase-2026" --data-urlencode "password2=smoke-Passphrase-2026" \
  || fail "sign-up refused"
for _ in $(seq 1 20); do grep -q "accounts/confirm-email/" "$log" && break; sleep 0.5; done
grep -q "accounts/confirm-email/" "$log" || fail "no confirmation link printed for a sign-up"

kill -INT -- "-$leader"
for _ in $(seq 1 60); do kill -0 "$leader" 2>/dev/null || break; sleep 1; done
kill -0 "$leader" 2>/dev/null && fail "make run still running 60s after Ctrl-C"
# A process counts as running while it exists and is not a zombie awaiting its reaper
# (the postmaster is reparented once pg_ctl exits); allow a few seconds for the last exit.
running() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
alive=""
for _ in $(seq 1 20); do
  alive=""
  while read -r pid name; do
    running "$pid" && alive="$alive $name($pid)"
  done < .hydite/run.pids
  [ -z "$alive" ] && break
  sleep 0.5
done
[ -z "$alive" ] || fail "still running after Ctrl-C:$alive"
grep -q "all processes stopped" "$log" || fail "no clean stop message"
echo "smoke: make run started, served, and stopped every process ($(wc -l < .hydite/run.pids) processes)"
