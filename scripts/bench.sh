#!/usr/bin/env bash
# scripts/bench.sh: how fast and how correct is cipher-test compared with the shell loop that
# operators (and the Gloo upstream-TLS guide) use to list a server's cipher suites?
#
# For each server profile the script starts a local `openssl s_server` on 127.0.0.1 and runs, in
# the same invocation and against the same server:
#   * cipher-test (a full scan: every suite of every TLS version), BENCH_RUNS times;
#   * the baseline loop (one `openssl s_client` per name of `openssl ciphers 'ALL:eNULL'`, without
#     the guide's `sleep 1`), BENCH_LOOP_RUNS times;
# and prints the median wall times, their ratio (loop / cipher-test) and whether the accepted sets
# agree. cipher-test's accepted set is also checked against the set the profile is known to
# accept (stated by hand, or measured by a version-by-version reference loop); any mismatch makes
# the script exit 1.
#
# Peers (same server, BENCH_PEER_RUNS runs each, installed when missing and running as root):
# sslscan, nmap ssl-enum-ciphers, sslyze (cipher-suite scans only) and, with BENCH_TESTSSL=1,
# testssl.sh -E. Their accepted sets (as "PROTOCOL CODE") are compared with cipher-test's.
#
# --latency[=MS]: each server is put behind scripts/delay-proxy.py (MS one-way, default 25, so
# a 50 ms RTT; 32 identical s_server instances behind it, since s_server is single-threaded and a
# real server answers connections in parallel), and cipher-test (defaults; --concurrency 16 and 64;
# --method per-suite) and the peers are timed through it.
#
# --limits[=PATTERNS]: instead of all the above, runs `cargo bench --bench limits` (benches/limits.rs,
# issue 15): cipher-test at default settings through fronts that limit connections (drop every nth,
# at most n open, n per second, random resets, a pause after a burst) before an in-process six-suite
# server, against the clean server; PATTERNS is a comma-separated list of front specs (default: the
# issue's six). Its table goes to stdout; its exit code is this script's.
#
# Usage: scripts/bench.sh [--profiles LIST] [--latency[=MS]] [--limits[=PATTERNS]] [-h|--help]
#
# Environment:
#   CIPHER_TEST_BIN   use this binary instead of building target/release/cipher-test
#   BENCH_RUNS        cipher-test runs per profile (default 5; with --limits, per pattern, default 3)
#   BENCH_LOOP_RUNS   baseline loop runs per profile (default 3)
#   BENCH_PROFILES    comma-separated profiles (default: all; see --help)
#   BENCH_REFERENCE   1 (default): for profiles without a hand-written expected set, measure it
#                     with a slow version-by-version s_client loop; 0: skip that check
#   BENCH_LOOP_FLAGS  extra s_client flags for the baseline loop (default none, like the guide;
#                     e.g. "-tls1_2" shows what the loop sees when it is kept off TLS 1.3)
#   BENCH_CT_ARGS     extra cipher-test arguments (e.g. "--concurrency 16")
#   BENCH_PEERS       comma-separated peers (default sslscan,nmap,sslyze; "none" for none)
#   BENCH_TESTSSL     1: also run testssl.sh -E (slow: tens of seconds per run)
#   BENCH_PEER_RUNS   runs per peer (default 3)
#   BENCH_INSTALL     1 (default): install missing peers when running as root (apt-get, pip)
#   BENCH_BEFORE_BIN  an earlier cipher-test build: timed BENCH_RUNS times on every profile, each run
#                     right after one of cipher-test's (loopback and --latency), for a before/after table with the
#                     sum over the profiles; any difference in accepted suites, groups, server order
#                     or Envoy verdict between the two makes the script exit 1
#
# Output: the results table on stdout; progress and details on stderr.
#

set -Eeuo pipefail
trap 'printf "[bench] error: unexpected failure (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${BENCH_RUNS:-5}"
LOOP_RUNS="${BENCH_LOOP_RUNS:-3}"
REFERENCE="${BENCH_REFERENCE:-1}"
ALL_PROFILES="gloo-example,legacy,modern,intermediate,wide,wide-no-tls13"
PROFILES="${BENCH_PROFILES:-$ALL_PROFILES}"
read -r -a LOOP_FLAGS <<<"${BENCH_LOOP_FLAGS:-}"
read -r -a CT_ARGS <<<"${BENCH_CT_ARGS:-}"
PEER_RUNS="${BENCH_PEER_RUNS:-3}"
PEERS="${BENCH_PEERS:-sslscan,nmap,sslyze}"
[[ "${BENCH_TESTSSL:-0}" == 1 ]] && PEERS="$PEERS,testssl"
LATENCY=""
LIMITS=""
BEFORE="${BENCH_BEFORE_BIN:-}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: scripts/bench.sh [--profiles LIST] [--latency[=MS]] [--limits[=PATTERNS]] [-h|--help]

Benchmarks cipher-test against the operators' openssl s_client loop on local servers.
Profiles (all by default): ${ALL_PROFILES//,/, }
  gloo-example   TLS 1.2 only, ECDHE-RSA-AES256-SHA only (like Gloo's example-tls-server)
  legacy         TLS 1.2 only, ECDHE-RSA-AES256-SHA and AES128-SHA
  modern         TLS 1.2 + 1.3, 'ECDHE+AESGCM:ECDHE+CHACHA20'
  wide           TLS 1.0 to 1.3, 'ALL:@SECLEVEL=0' with ffdhe2048 DH parameters
  wide-no-tls13  as wide, with TLS 1.3 disabled (the loop's best case)
Environment: CIPHER_TEST_BIN, BENCH_RUNS (5), BENCH_LOOP_RUNS (3), BENCH_PROFILES,
  BENCH_REFERENCE (1), BENCH_LOOP_FLAGS, BENCH_CT_ARGS, BENCH_PEERS (sslscan,nmap,sslyze),
  BENCH_TESTSSL (0), BENCH_PEER_RUNS (3), BENCH_INSTALL (1), BENCH_BEFORE_BIN (an earlier
  build to compare with). See the header of this script.
  --latency[=MS]  time cipher-test and sslscan through a proxy delaying MS (25) each way
  --limits[=PATTERNS]  only time cipher-test through fronts that limit connections (issue 15;
                  cargo bench --bench limits): comma-separated specs such as drop-every=2,
                  concurrent=2, rate=20, random-reset=20, pause-after-burst=30 (default: those six
                  and drop-every=3); BENCH_RUNS (3 here), CIPHER_TEST_BIN and BENCH_CT_ARGS apply
Exit: 0 all good, 1 cipher-test gave a wrong or unstable answer, 2 setup error.
EOF
}

while (($#)); do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--profiles) [[ $# -ge 2 ]] || die "--profiles needs a value"; PROFILES="$2"; shift 2 ;;
	--profiles=*) PROFILES="${1#--profiles=}"; shift ;;
	--latency) LATENCY=25; shift ;;
	--latency=*) LATENCY="${1#--latency=}"; shift ;;
	--limits) LIMITS="default"; shift ;;
	--limits=*) LIMITS="${1#--limits=}"; [[ -n "$LIMITS" ]] || die "--limits= needs a pattern"; shift ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
if [[ -n "$LIMITS" ]]; then
	[[ -z "$LATENCY" ]] || die "--limits and --latency do not combine"
	# The limits bench runs cipher-test only, against its own in-process servers: no openssl, jq
	# or peers needed. cargo builds target/release/cipher-test with the bench unless
	# CIPHER_TEST_BIN names another binary.
	command -v cargo >/dev/null || die "--limits needs cargo (cargo bench --bench limits)"
	export BENCH_RUNS="${BENCH_RUNS:-3}"
	[[ -n "${BENCH_CT_ARGS:-}" ]] && export BENCH_CT_ARGS
	[[ -n "${CIPHER_TEST_BIN:-}" ]] && export CIPHER_TEST_BIN
	patterns=()
	shown="the issue's six patterns"
	if [[ "$LIMITS" != default ]]; then
		IFS=',' read -r -a patterns <<<"$LIMITS"
		shown="${patterns[*]}"
	fi
	log "running: cargo bench --bench limits -- $shown"
	cd "$ROOT"
	rc=0
	cargo bench --quiet --bench limits -- ${patterns[@]+"${patterns[@]}"} || rc=$?
	exit "$rc"
fi
[[ "$LOOP_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_LOOP_RUNS must be a positive integer"
[[ "$PEER_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PEER_RUNS must be a positive integer"
[[ -z "$LATENCY" || "$LATENCY" =~ ^[0-9]+$ ]] || die "--latency takes a one-way delay in whole milliseconds"
if [[ -n "$LATENCY" ]]; then
	PEERS="sslscan"
	command -v python3 >/dev/null || die "--latency needs python3 (for scripts/delay-proxy.py)"
fi

# --- tools -------------------------------------------------------------------------------------

command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
if ! command -v jq >/dev/null; then
	if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
		log "jq is missing; running: apt-get install -y jq"
		apt-get install -y jq >&2 || { log "running: apt-get update"; apt-get update >&2 && apt-get install -y jq >&2; }
	fi
	command -v jq >/dev/null || die "jq is required: apt-get install jq (Debian/Ubuntu), brew install jq (macOS)"
fi

# Peers: command names per peer; installed when missing (root only, BENCH_INSTALL=1).
peer_cmd() {
	case "$1" in
	sslscan) command -v sslscan ;;
	nmap) command -v nmap ;;
	sslyze) command -v sslyze ;;
	testssl) command -v testssl.sh || command -v testssl ;;
	*) return 1 ;;
	esac
}
PEER_LIST=()
PEER_SKIPPED=()
if [[ "$PEERS" != none ]]; then
	IFS=',' read -r -a _peers <<<"$PEERS"
	for peer in "${_peers[@]}"; do
		if ! peer_cmd "$peer" >/dev/null && [[ "${BENCH_INSTALL:-1}" == 1 && "$(id -u)" == 0 ]]; then
			case "$peer" in
			sslscan | nmap) pkg="$peer" ;;
			testssl) pkg="testssl.sh" ;;
			sslyze) pkg="" ;;
			*) die "unknown peer '$peer' (known: sslscan, nmap, sslyze, testssl)" ;;
			esac
			if [[ -n "$pkg" ]] && command -v apt-get >/dev/null; then
				log "$peer is missing; running: apt-get install -y $pkg"
				DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2 ||
					{ log "running: apt-get update"; apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2; } || true
			elif [[ -z "$pkg" ]]; then
				log "sslyze is missing; running: python3 -m pip install sslyze"
				python3 -m pip install --quiet sslyze >&2 || true
				hash -r
			fi
		fi
		if peer_cmd "$peer" >/dev/null; then
			PEER_LIST+=("$peer")
		else
			PEER_SKIPPED+=("$peer: not installed")
			log "peer $peer is not available; skipped"
		fi
	done
fi

if [[ -n "${CIPHER_TEST_BIN:-}" ]]; then
	BIN="$CIPHER_TEST_BIN"
else
	log "building: cargo build --release --quiet"
	(cd "$ROOT" && cargo build --release --quiet) || die "cargo build failed"
	BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/cipher-test"
fi
[[ -x "$BIN" ]] || die "no executable at $BIN"
[[ -z "$BEFORE" || -x "$BEFORE" ]] || die "BENCH_BEFORE_BIN: no executable at $BEFORE"

# --- temp dir, cleanup -------------------------------------------------------------------------

TMP="$(mktemp -d "${TMPDIR:-/tmp}/cipher-test-bench.XXXXXX")"
SERVER_PIDS=()
cleanup() {
	local pid
	for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

log "temp dir $TMP: RSA-2048 self-signed certificate, ffdhe2048 DH parameters"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 || die "certificate generation failed"
openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe2048 -out "$TMP/dh.pem" 2>/dev/null ||
	die "DH parameter generation failed"

# --- servers -----------------------------------------------------------------------------------

# Sets SERVER_ARGS (s_server flags) and EXPECTED ("PROTOCOL NAME" lines, sorted; empty when the
# profile's accepted set is not stated by hand).
profile() {
	EXPECTED=""
	case "$1" in
	gloo-example)
		SERVER_ARGS=(-tls1_2 -cipher ECDHE-RSA-AES256-SHA)
		EXPECTED="TLSv1.2 ECDHE-RSA-AES256-SHA"
		;;
	legacy)
		SERVER_ARGS=(-tls1_2 -cipher ECDHE-RSA-AES256-SHA:AES128-SHA)
		EXPECTED=$'TLSv1.2 AES128-SHA\nTLSv1.2 ECDHE-RSA-AES256-SHA'
		;;
	modern)
		# The ECDHE-ECDSA suites in this list need an ECDSA certificate: not accepted with RSA.
		# TLS 1.3: s_server's default ciphersuites (the two CCM suites are off by default).
		SERVER_ARGS=(-no_tls1 -no_tls1_1 -cipher 'ECDHE+AESGCM:ECDHE+CHACHA20')
		EXPECTED="$(printf '%s\n' \
			"TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384" "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256" \
			"TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305" "TLSv1.3 TLS_AES_256_GCM_SHA384" \
			"TLSv1.3 TLS_AES_128_GCM_SHA256" "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" | LC_ALL=C sort)"
		;;
	intermediate)
		# A typical older upstream: TLS 1.0-1.3, ECDHE/DHE AEAD, ECDHE CBC, and two RSA suites.
		SERVER_ARGS=(-cipher 'ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:ECDHE+AES:AES128-SHA:AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0' -dhparam "$TMP/dh.pem") ;;
	wide) SERVER_ARGS=(-cipher 'ALL:@SECLEVEL=0' -dhparam "$TMP/dh.pem") ;;
	wide-no-tls13) SERVER_ARGS=(-no_tls1_3 -cipher 'ALL:@SECLEVEL=0' -dhparam "$TMP/dh.pem") ;;
	*) die "unknown profile '$1' (known: $ALL_PROFILES)" ;;
	esac
}

free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
	else
		local port
		while :; do
			port=$((20000 + RANDOM % 40000))
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				echo "$port"
				return
			fi
		done
	fi
}

# start_server NAME: sets PORT and PID; the server keeps serving until killed.
start_server() {
	local name="$1" attempt i
	for attempt in 1 2 3 4 5; do
		PORT="$(free_port)"
		openssl s_server -accept "127.0.0.1:$PORT" -cert "$TMP/cert.pem" -key "$TMP/key.pem" \
			"${SERVER_ARGS[@]}" -quiet </dev/null >"$TMP/$name.server.log" 2>&1 &
		PID=$!
		SERVER_PIDS+=("$PID")
		for ((i = 0; i < 100; i++)); do
			kill -0 "$PID" 2>/dev/null || break
			# A bare TCP connect: s_server logs a failed handshake and keeps serving.
			if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && kill -0 "$PID" 2>/dev/null; then
				return 0
			fi
			sleep 0.05
		done
		kill "$PID" 2>/dev/null || true
		log "$name: s_server on port $PORT did not come up (attempt $attempt): $(tail -n 2 "$TMP/$name.server.log" | tr '\n' ' ')"
	done
	die "could not start s_server for profile $name"
}

stop_server() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# --- the tools under test ----------------------------------------------------------------------

# The baseline: the loop from the guide (and countless runbooks), minus its `sleep 1`. No version
# flag, so s_client also offers TLS 1.3, and `-cipher` cannot name a TLS 1.3 suite at all.
baseline_loop() {
	local port="$1" cipher result
	for cipher in $(openssl ciphers 'ALL:eNULL' | tr ':' ' '); do
		result="$(echo -n | openssl s_client ${LOOP_FLAGS[@]+"${LOOP_FLAGS[@]}"} -cipher "$cipher" \
			-connect "127.0.0.1:$port" 2>&1)" || true
		if [[ "$result" == *"Cipher is ${cipher}"* || "$result" == *"Cipher    : ${cipher}"* ]]; then
			echo "$cipher"
		fi
	done
}

# A slow but version-exact reference: every suite at every version, the client at security level 0
# (so it can offer TLS 1.0/1.1 and anonymous suites), TLS 1.3 suites through -ciphersuites.
# Prints "PROTOCOL NAME" lines.
reference_loop() {
	local port="$1" flag proto cipher result
	for flag in tls1:TLSv1.0 tls1_1:TLSv1.1 tls1_2:TLSv1.2; do
		proto="${flag#*:}"
		for cipher in $(openssl ciphers 'ALL:eNULL:@SECLEVEL=0' | tr ':' ' '); do
			[[ "$cipher" == TLS_* ]] && continue
			result="$(openssl s_client "-${flag%%:*}" -cipher "$cipher:@SECLEVEL=0" \
				-connect "127.0.0.1:$port" </dev/null 2>&1)" || true
			[[ "$result" == *"Cipher is ${cipher}"* ]] && echo "$proto $cipher"
		done
	done
	for cipher in TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_GCM_SHA256 \
		TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
		result="$(openssl s_client -tls1_3 -ciphersuites "$cipher" \
			-connect "127.0.0.1:$port" </dev/null 2>&1)" || true
		[[ "$result" == *"Cipher is ${cipher}"* ]] && echo "TLSv1.3 $cipher"
	done
	return 0
}

now_ns() { date +%s%N; }
# set_diff A B: what B lacks and adds compared with A (sorted files), on one line
set_diff() {
	{
		LC_ALL=C comm -23 "$1" "$2" | sed 's/^/missing: /'
		LC_ALL=C comm -13 "$1" "$2" | sed 's/^/extra: /'
	} | joined
}
count_lines() { printf '%s' "$1" | grep -c . || true; }

# describe_set FILE: "PROTOCOL NAME" lines as "TLSv1.2: A, B; TLSv1.3: C" (counts only when long)
describe_set() {
	[[ -s "$1" ]] || { echo "nothing"; return; }
	awk '{ n[$1]++; v[$1] = n[$1] > 1 ? v[$1] ", " $2 : $2 }
		END { for (k in n) print k ": " (n[k] > 8 ? n[k] " suites" : v[k]) }' "$1" | LC_ALL=C sort | paste -sd';' - | sed 's/;/; /g'
}

# median of numbers on stdin
median() {
	LC_ALL=C sort -n | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print 0 } else if (NR % 2) { print a[(NR + 1) / 2] } else { print (a[NR / 2] + a[NR / 2 + 1]) / 2 } }'
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a + b }'; }
ms() { awk -v ns="$1" 'BEGIN { if (ns >= 1e9) printf "%.2f s", ns / 1e9; else printf "%.1f ms", ns / 1e6 }'; }
# join lines on stdin with ", "; "-" when empty
joined() { paste -sd, - | sed 's/,/, /g; s/^$/-/'; }

# outcome JSON: what must not change between two builds: accepted suites, accepted groups, the
# server's order, the Envoy verdict
outcome() {
	jq -cS '{accepted: [(.ciphers // [])[] | select(.status == "accepted") | "\(.protocol) \(.openssl_name)"] | sort,
		groups: [(.groups // [])[] | select(.status == "accepted") | "\(.protocol) \(.name)"] | sort,
		order: [(.server_preference // [])[] | {protocol, enforced, order}],
		verdict: .envoy.verdict}' "$1" 2>/dev/null || echo "no report from $1"
}

# cpu_ticks PID: user + system CPU of process PID so far, in clock ticks (0 when it is gone)
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# before_run PORT DIR R: run R of BENCH_BEFORE_BIN against 127.0.0.1:PORT, right after cipher-test's
# run R (the two alternate, so that a slow spell of the machine falls on both); appends to BEFORE_TIMES
before_run() {
	local port="$1" dir="$2" r="$3" t0 t1
	t0="$(now_ns)"
	"$BEFORE" "127.0.0.1:$port" --format json --quiet ${CT_ARGS[@]+"${CT_ARGS[@]}"} \
		>"$dir/before.$r.json" 2>/dev/null || true
	t1="$(now_ns)"
	BEFORE_TIMES+=("$((t1 - t0))")
}

# before_result DIR: sets BEFORE_MED from BEFORE_TIMES, and BEFORE_SAME to "yes" when the earlier
# build's outcome equals cipher-test's ($DIR/after.outcome)
before_result() {
	local dir="$1"
	BEFORE_MED="$(printf '%s\n' "${BEFORE_TIMES[@]}" | median)"
	outcome "$dir/before.1.json" >"$dir/before.outcome"
	if cmp -s "$dir/before.outcome" "$dir/after.outcome"; then
		BEFORE_SAME="yes"
	else
		BEFORE_SAME="NO"
		FAILED=1
		NOTES+=("$(basename "$dir"): FAIL: the earlier build's outcome differs: before $(head -c 600 "$dir/before.outcome"), after $(head -c 600 "$dir/after.outcome")")
	fi
}

# first_connect_ms BIN PORT: nanoseconds from exec to the first connect(2) of one run (strace,
# stopping only at those two system calls)
first_connect_ms() {
	strace -f --seccomp-bpf -ttt -e trace=execve,connect -o "$TMP/strace.out" \
		"$1" "127.0.0.1:$2" --format json --quiet >/dev/null 2>&1 || true
	awk '/execve\(/ && !s { s = $2 } /connect\(/ && !c { c = $2 } END { if (s && c) printf "%.0f\n", (c - s) * 1e9 }' "$TMP/strace.out"
}

# run_peer PEER PORT OUT: runs the peer against 127.0.0.1:PORT, leaves its machine-readable output
# in OUT.* and prints nothing; run_peer's exit status is the peer's.
run_peer() {
	local peer="$1" port="$2" out="$3" cmd
	cmd="$(peer_cmd "$peer")"
	case "$peer" in
	sslscan)
		"$cmd" --no-colour --no-heartbleed --no-renegotiation --no-compression --no-fallback \
			--no-check-certificate --no-groups --no-cipher-details --xml="$out.xml" \
			"127.0.0.1:$port" >"$out.txt" 2>&1 ;;
	nmap) "$cmd" -Pn -n -p "$port" --script ssl-enum-ciphers -oX "$out.xml" 127.0.0.1 >"$out.txt" 2>&1 ;;
	sslyze)
		"$cmd" --quiet --json_out "$out.json" --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 \
			"127.0.0.1:$port" >"$out.txt" 2>&1 ;;
	testssl)
		rm -f "$out.json"
		"$cmd" --quiet --warnings off --color 0 -E --jsonfile "$out.json" "127.0.0.1:$port" >"$out.txt" 2>&1 ;;
	esac
}

# peer_set PEER OUT NAMES: the peer's accepted suites as sorted "PROTOCOL CODE" lines (CODE: four
# upper-case hex digits); NAMES maps IANA names to codes ("CODE IANA OPENSSL" lines).
peer_set() {
	local peer="$1" out="$2" names="$3"
	case "$peer" in
	sslscan)
		grep -oE '<cipher status="(accepted|preferred)" sslversion="[^"]*"[^>]* id="0x[0-9a-fA-F]+"' "$out.xml" |
			sed -E 's/.*sslversion="([^"]*)".* id="0x([0-9a-fA-F]+)"/\1 \2/' |
			hex4 ;;
	nmap)
		awk '/<table key="(SSLv3|TLSv1\.[0-3])">/ { match($0, /key="[^"]*"/); p = substr($0, RSTART + 5, RLENGTH - 6) }
			/<elem key="name">/ { n = $0; sub(/.*<elem key="name">/, "", n); sub(/<.*/, "", n); sub(/^TLS_AKE_WITH_/, "TLS_", n); print p, n }' "$out.xml" |
			iana_to_code "$names" ;;
	sslyze)
		jq -r '.server_scan_results[0].scan_result | to_entries[] | select(.key | test("^(ssl|tls)_.*_cipher_suites$"))
			| (.key | sub("_cipher_suites$"; "") | {"ssl_2_0": "SSLv2", "ssl_3_0": "SSLv3", "tls_1_0": "TLSv1.0", "tls_1_1": "TLSv1.1", "tls_1_2": "TLSv1.2", "tls_1_3": "TLSv1.3"}[.]) as $p
			| (.value.result.accepted_cipher_suites // [])[] | "\($p) \(.cipher_suite.name)"' "$out.json" |
			iana_to_code "$names" ;;
	testssl)
		# ids like cipher-tls1_2_xc030 (and cipher_order...); the finding starts with the protocol
		jq -r '.[] | select(.id | test("^cipher-(ssl3|tls1(_[123])?)_x[0-9a-f]+$")) | .id' "$out.json" |
			sed -E 's/^cipher-ssl3_x/SSLv3 /; s/^cipher-tls1_x/TLSv1.0 /; s/^cipher-tls1_([123])_x/TLSv1.\1 /' |
			hex4 ;;
	esac | LC_ALL=C sort -u
}
# "PROTOCOL IANA" lines on stdin to "PROTOCOL CODE" (unknown names kept as ?NAME)
iana_to_code() {
	awk 'NR == FNR { c[$2] = $1; next } { print $1, ($2 in c ? c[$2] : "?" $2) }' "$1" -
}
# code_names NAMES: "PROTOCOL CODE" lines on stdin as "PROTOCOL OPENSSL-NAME"
code_names() {
	awk 'NR == FNR { n[$1] = $3; next } { print $1, ($2 in n ? n[$2] : $2) }' "$1" - | sed 's/^TLSv1\.//; s/^/v1./; s/^v1\.SSLv3/SSLv3/' | joined
}
# compare_sets CT PEER NAMES: "yes", or "no: missing N (..), extra M (..)"
compare_sets() {
	local miss extra
	miss="$(LC_ALL=C comm -23 "$1" "$2")"
	extra="$(LC_ALL=C comm -13 "$1" "$2")"
	if [[ -z "$miss" && -z "$extra" ]]; then
		echo yes
		return
	fi
	printf 'no: missing %s%s, extra %s%s\n' "$(count_lines "$miss")" \
		"$([[ -n "$miss" ]] && printf ' (%s)' "$(printf '%s\n' "$miss" | code_names "$3")")" \
		"$(count_lines "$extra")" "$([[ -n "$extra" ]] && printf ' (%s)' "$(printf '%s\n' "$extra" | code_names "$3")")"
}
# ct_codes JSON NAMES: cipher-test's accepted set as "PROTOCOL CODE" lines; writes the name table
ct_codes() {
	jq -r '.ciphers[] | "\(.code | ascii_upcase | sub("^0X"; "")) \(.iana_name) \(.openssl_name)"' "$1" | LC_ALL=C sort -u >"$2"
	jq -r '.ciphers[] | select(.status == "accepted") | "\(.protocol) \(.code | ascii_upcase | sub("^0X"; ""))"' "$1" | LC_ALL=C sort -u
}
# time_peer PEER PORT DIR RUNS: runs the peer RUNS times; sets PEER_MED (ns) and PEER_SET (file)
time_peer() {
	local peer="$1" port="$2" dir="$3" runs="$4" r t0 t1 rc times=()
	for ((r = 1; r <= runs; r++)); do
		rc=0
		t0="$(now_ns)"
		run_peer "$peer" "$port" "$dir/$peer.$r" || rc=$?
		t1="$(now_ns)"
		times+=("$((t1 - t0))")
		peer_set "$peer" "$dir/$peer.$r" "$dir/names" >"$dir/$peer.$r.set" 2>"$dir/$peer.$r.parse.err" || true
		log "$(basename "$dir"): $peer run $r/$runs: $(ms "${times[-1]}") (exit $rc), $(wc -l <"$dir/$peer.$r.set") accepted parsed"
	done
	PEER_MED="$(printf '%s\n' "${times[@]}" | median)"
	PEER_SET="$dir/$peer.1.set"
}
hex4() { awk '{ h = toupper($2); while (length(h) < 4) h = "0" h; print $1, substr(h, length(h) - 3) }'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }'; }

# --- run ---------------------------------------------------------------------------------------

IFS=',' read -r -a PROFILE_LIST <<<"$PROFILES"
for name in "${PROFILE_LIST[@]}"; do profile "$name"; done # validate names before the long part

log "$("$BIN" --version 2>/dev/null || echo "$BIN")"
log "$(openssl version); $(nproc 2>/dev/null || echo '?') CPUs; $RUNS cipher-test runs, $LOOP_RUNS loop runs per profile"
[[ ${#LOOP_FLAGS[@]} -gt 0 ]] && log "baseline loop with extra s_client flags: ${LOOP_FLAGS[*]}"

FAILED=0
ROWS=()
NOTES=()

PEER_ROWS=()
LAT_ROWS=()
BEFORE_ROWS=()
SUM_BEFORE=0
SUM_AFTER=0
for name in "${PROFILE_LIST[@]}"; do
	profile "$name"
	if [[ -n "$LATENCY" ]]; then
		dir="$TMP/$name"
		mkdir -p "$dir"
		backends=()
		for ((b = 0; b < 32; b++)); do
			start_server "$name.$b"
			backends+=("$PORT")
		done
		pport="$(free_port)"
		python3 "$ROOT/scripts/delay-proxy.py" "$pport" "$(IFS=,; echo "${backends[*]}")" "$LATENCY" >"$dir/proxy.log" 2>&1 &
		SERVER_PIDS+=("$!")
		for ((i = 0; i < 100; i++)); do grep -q listening "$dir/proxy.log" 2>/dev/null && break; sleep 0.05; done
		grep -q listening "$dir/proxy.log" || die "delay-proxy did not start: $(head -c 300 "$dir/proxy.log")"
		log "$name: delay-proxy on 127.0.0.1:$pport, ${LATENCY} ms each way, in front of ${#backends[@]} s_server instances"
		ref=""
		configs=("" "--concurrency 16" "--concurrency 64" "--method per-suite")
		BEFORE_TIMES=()
		for c in "${!configs[@]}"; do
			read -r -a extra <<<"${configs[$c]}"
			label="cipher-test${configs[$c]:+ ${configs[$c]}}"
			times=()
			for ((r = 1; r <= RUNS; r++)); do
				t0="$(now_ns)"
				"$BIN" "127.0.0.1:$pport" --format json --quiet ${extra[@]+"${extra[@]}"} \
					${CT_ARGS[@]+"${CT_ARGS[@]}"} >"$dir/ct$c.$r.json" 2>"$dir/ct$c.$r.err" || true
				t1="$(now_ns)"
				times+=("$((t1 - t0))")
				log "$name: $label run $r/$RUNS: $(ms "${times[-1]}")"
				if [[ -n "$BEFORE" && $c -eq 0 ]]; then before_run "$pport" "$dir" "$r"; fi
			done
			med="$(printf '%s\n' "${times[@]}" | median)"
			ct_codes "$dir/ct$c.1.json" "$dir/names" >"$dir/ct$c.set" || : >"$dir/ct$c.set"
			[[ -z "$ref" ]] && { ref="$med"; cp "$dir/ct$c.set" "$dir/ct.ref.set"; }
			LAT_ROWS+=("$name|$label|$(ms "$med")|$(ratio_of "$med" "$ref")|$(wc -l <"$dir/ct$c.set")|$(compare_sets "$dir/ct.ref.set" "$dir/ct$c.set" "$dir/names")")
		done
		if [[ -n "$BEFORE" ]]; then
			outcome "$dir/ct0.1.json" >"$dir/after.outcome"
			before_result "$dir"
			LAT_ROWS+=("$name|before (BENCH_BEFORE_BIN)|$(ms "$BEFORE_MED")|$(ratio_of "$BEFORE_MED" "$ref")|$(jq '.summary.accepted' "$dir/before.1.json" 2>/dev/null)|$BEFORE_SAME (suites, groups, order, verdict)")
			BEFORE_ROWS+=("$name|$(ms "$BEFORE_MED")|$(ms "$ref")|$(ratio_of "$BEFORE_MED" "$ref")|$BEFORE_SAME")
			SUM_BEFORE="$(add "$SUM_BEFORE" "$BEFORE_MED")"
			SUM_AFTER="$(add "$SUM_AFTER" "$ref")"
		fi
		for peer in ${PEER_LIST[@]+"${PEER_LIST[@]}"}; do
			time_peer "$peer" "$pport" "$dir" "$PEER_RUNS"
			LAT_ROWS+=("$name|$peer|$(ms "$PEER_MED")|$(ratio_of "$PEER_MED" "$ref")|$(wc -l <"$PEER_SET")|$(compare_sets "$dir/ct.ref.set" "$PEER_SET" "$dir/names")")
		done
		continue
	fi
	start_server "$name"
	log "$name: s_server ${SERVER_ARGS[*]} on 127.0.0.1:$PORT (pid $PID)"
	dir="$TMP/$name"
	mkdir -p "$dir"
	problems=()

	# cipher-test
	ct_times=()
	ct_internal=()
	BEFORE_TIMES=()
	server_ticks=0
	for ((r = 1; r <= RUNS; r++)); do
		rc=0
		s0="$(cpu_ticks "$PID")"
		t0="$(now_ns)"
		"$BIN" "127.0.0.1:$PORT" --format json --quiet ${CT_ARGS[@]+"${CT_ARGS[@]}"} \
			>"$dir/ct.$r.json" 2>"$dir/ct.$r.err" || rc=$?
		t1="$(now_ns)"
		ct_times+=("$((t1 - t0))")
		# The server may still be closing the last connections: a moment for its CPU to be counted.
		sleep 0.02
		server_ticks=$((server_ticks + $(cpu_ticks "$PID") - s0))
		if [[ -n "$BEFORE" ]]; then before_run "$PORT" "$dir" "$r"; fi
		if ! jq -e '.ciphers and .summary' "$dir/ct.$r.json" >/dev/null 2>&1; then
			log "$name: cipher-test run $r (exit $rc) printed no JSON report: $(head -c 400 "$dir/ct.$r.err")"
			problems+=("cipher-test run $r produced no report (exit $rc)")
			continue
		fi
		ct_internal+=("$(jq '.summary.elapsed_ms' "$dir/ct.$r.json")")
		jq -r '.ciphers[] | select(.status == "accepted") | "\(.protocol) \(.openssl_name)"' \
			"$dir/ct.$r.json" | LC_ALL=C sort -u >"$dir/ct.$r.set"
		if [[ $rc -ne 0 ]]; then
			inconclusive="$(jq -r '[.ciphers[] | select(.status == "inconclusive") | "\(.protocol) \(.openssl_name): \(.reason)"] | .[:5] | join("; ")' "$dir/ct.$r.json")"
			problems+=("cipher-test run $r exited $rc (inconclusive: ${inconclusive:-none})")
		fi
		if [[ $r -gt 1 && -f "$dir/ct.1.set" ]] && ! cmp -s "$dir/ct.1.set" "$dir/ct.$r.set"; then
			problems+=("cipher-test run $r accepted a different set than run 1: $(set_diff "$dir/ct.1.set" "$dir/ct.$r.set")")
		fi
		log "$name: cipher-test run $r/$RUNS: $(ms "${ct_times[-1]}") (exit $rc)"
	done
	ct_med="$(printf '%s\n' "${ct_times[@]}" | median)"
	ct_int_med="$(printf '%s\n' ${ct_internal[@]+"${ct_internal[@]}"} | median)"
	if [[ -n "$BEFORE" ]]; then
		outcome "$dir/ct.1.json" >"$dir/after.outcome"
		before_result "$dir"
		BEFORE_ROWS+=("$name|$(ms "$BEFORE_MED")|$(ms "$ct_med")|$(ratio_of "$BEFORE_MED" "$ct_med")|$BEFORE_SAME")
		SUM_BEFORE="$(add "$SUM_BEFORE" "$BEFORE_MED")"
		SUM_AFTER="$(add "$SUM_AFTER" "$ct_med")"
	fi
	if command -v strace >/dev/null && [[ -z "${FIRST_CONNECT:-}" ]]; then
		fc=()
		for ((r = 1; r <= RUNS; r++)); do fc+=("$(first_connect_ms "$BIN" "$PORT")"); done
		FIRST_CONNECT="$(printf '%s\n' "${fc[@]}" | median)"
		line="exec to the first connection (strace, median of $RUNS): cipher-test $(ms "$FIRST_CONNECT")"
		if [[ -n "$BEFORE" ]]; then
			fc=()
			for ((r = 1; r <= RUNS; r++)); do fc+=("$(first_connect_ms "$BEFORE" "$PORT")"); done
			line="$line, before $(ms "$(printf '%s\n' "${fc[@]}" | median)")"
		fi
		NOTES+=("$name: $line")
	fi

	# baseline loop
	loop_times=()
	for ((r = 1; r <= LOOP_RUNS; r++)); do
		t0="$(now_ns)"
		baseline_loop "$PORT" | LC_ALL=C sort -u >"$dir/loop.$r.set"
		t1="$(now_ns)"
		loop_times+=("$((t1 - t0))")
		log "$name: baseline loop run $r/$LOOP_RUNS: $(ms "${loop_times[-1]}"), $(wc -l <"$dir/loop.$r.set") supported"
		if [[ $r -gt 1 ]] && ! cmp -s "$dir/loop.1.set" "$dir/loop.$r.set"; then
			NOTES+=("$name: the baseline loop itself was unstable (run $r differs from run 1)")
		fi
	done
	loop_med="$(printf '%s\n' "${loop_times[@]}" | median)"

	# expected set: stated by hand, or measured by the reference loop
	exact="n/a"
	if [[ -z "$EXPECTED" && "$REFERENCE" == 1 ]]; then
		log "$name: measuring the reference set (version by version, slow)"
		reference_loop "$PORT" | LC_ALL=C sort -u >"$dir/expected.set"
		exact_src="reference"
	elif [[ -n "$EXPECTED" ]]; then
		printf '%s\n' "$EXPECTED" | LC_ALL=C sort -u >"$dir/expected.set"
		exact_src="expected"
	fi

	# peers
	ct_codes "$dir/ct.1.json" "$dir/names" >"$dir/ct.codes" 2>/dev/null || : >"$dir/ct.codes"
	for peer in ${PEER_LIST[@]+"${PEER_LIST[@]}"}; do
		time_peer "$peer" "$PORT" "$dir" "$PEER_RUNS"
		PEER_ROWS+=("$name|$peer|$(ms "$PEER_MED")|$(ratio_of "$PEER_MED" "$ct_med")|$(wc -l <"$PEER_SET")|$(compare_sets "$dir/ct.codes" "$PEER_SET" "$dir/names")")
	done
	PEER_ROWS+=("$name|cipher-test|$(ms "$ct_med")|1.0x|$(wc -l <"$dir/ct.codes")|(reference)")
	# the same scan one suite per hello, for the method's share of the speed
	ps_times=()
	for ((r = 1; r <= RUNS; r++)); do
		t0="$(now_ns)"
		"$BIN" "127.0.0.1:$PORT" --format json --quiet --method per-suite ${CT_ARGS[@]+"${CT_ARGS[@]}"} \
			>"$dir/ps.$r.json" 2>"$dir/ps.$r.err" || true
		t1="$(now_ns)"
		ps_times+=("$((t1 - t0))")
	done
	ps_med="$(printf '%s\n' "${ps_times[@]}" | median)"
	ct_codes "$dir/ps.1.json" "$dir/names" >"$dir/ps.codes" 2>/dev/null || : >"$dir/ps.codes"
	PEER_ROWS+=("$name|cipher-test --method per-suite|$(ms "$ps_med")|$(ratio_of "$ps_med" "$ct_med")|$(wc -l <"$dir/ps.codes")|$(compare_sets "$dir/ct.codes" "$dir/ps.codes" "$dir/names")")
	hellos="$(jq '[.enumeration[].hellos] | add' "$dir/ct.1.json" 2>/dev/null || echo '?')"
	NOTES+=("$name: cipher-test sent $hellos hellos for the suites ($(jq -r '[.enumeration[] | "\(.protocol) \(.hellos) \(.method)"] | join(", ")' "$dir/ct.1.json" 2>/dev/null))")

	kill -0 "$PID" 2>/dev/null || problems+=("s_server died during the benchmark (see its log)")
	stop_server "$PID"

	# compare
	ct_set="$dir/ct.1.set"
	[[ -f "$ct_set" ]] || : >"$ct_set"
	probes="$(jq '.ciphers | map(select(.status != "untestable")) | length' "$dir/ct.1.json" 2>/dev/null || echo '?')"
	loop_probes="$(openssl ciphers 'ALL:eNULL' | tr ':' '\n' | wc -l)"
	accepted_all="$(wc -l <"$ct_set")"
	grep -v '^TLSv1\.3 ' "$ct_set" | cut -d' ' -f2 | LC_ALL=C sort -u >"$dir/ct.le12.names" || true
	grep '^TLSv1\.3 ' "$ct_set" | cut -d' ' -f2 >"$dir/ct.tls13.names" || true
	n13="$(wc -l <"$dir/ct.tls13.names")"
	loop_found="$(wc -l <"$dir/loop.1.set")"
	only_ct="$(LC_ALL=C comm -23 "$dir/ct.le12.names" "$dir/loop.1.set")"
	only_loop="$(LC_ALL=C comm -13 "$dir/ct.le12.names" "$dir/loop.1.set")"
	if [[ -z "$only_ct" && -z "$only_loop" ]]; then
		agree="yes"
	else
		agree="no: loop missed $(count_lines "$only_ct"), extra $(count_lines "$only_loop")"
	fi
	if [[ -f "$dir/expected.set" ]]; then
		if cmp -s "$dir/expected.set" "$ct_set"; then
			exact="yes ($exact_src)"
		else
			exact="MISMATCH"
			problems+=("cipher-test's accepted set differs from the $exact_src set: $(set_diff "$dir/expected.set" "$ct_set")")
		fi
	fi
	[[ ${#problems[@]} -gt 0 ]] && FAILED=1

	ratio="$(awk -v a="$loop_med" -v b="$ct_med" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }')"
	accepted_col="$accepted_all"
	[[ $n13 -gt 0 ]] && accepted_col="$accepted_all ($n13 TLS1.3)"
	ROWS+=("$name|$probes|$accepted_col|$loop_found / $loop_probes|$(ms "$ct_med")|$(ms "$loop_med")|$ratio|$agree|$exact")

	NOTES+=("$name: cipher-test accepted: $(describe_set "$ct_set")")
	NOTES+=("$name: cipher-test's own elapsed_ms (median) $ct_int_med; wall $(ms "$ct_med") incl. process start")
	# s_server is single-threaded: a scan cannot take less wall time than the server's CPU for it.
	NOTES+=("$name: s_server CPU per cipher-test scan (mean of $RUNS, from /proc): $(awk -v t="$server_ticks" -v r="$RUNS" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f ms", t * 1000 / hz / r }')")
	[[ -n "$only_ct" ]] && NOTES+=("$name: accepted by the server (cipher-test) but missed by the loop: $(printf '%s\n' "$only_ct" | joined)")
	if [[ -n "$only_ct" && $n13 -gt 0 ]]; then
		NOTES+=("$name: missed because the server speaks TLS 1.3: every loop handshake negotiated a TLS 1.3 suite instead of the named one")
	elif grep -qE '^(ADH|AECDH)-' <<<"$only_ct"; then
		NOTES+=("$name: the anonymous (ADH/AECDH) suites are missed because s_client, at its default security level 1, refuses to offer them ('no ciphers available')")
	fi
	[[ -n "$only_loop" ]] && NOTES+=("$name: reported by the loop but not accepted per cipher-test: $(printf '%s\n' "$only_loop" | joined)")
	[[ $n13 -gt 0 ]] && NOTES+=("$name: TLS 1.3 suites the loop cannot test at all: $(joined <"$dir/ct.tls13.names")")
	for p in ${problems[@]+"${problems[@]}"}; do NOTES+=("$name: FAIL: $p"); done
	log "$name: done ($ratio, sets agree: $agree, exact: $exact)"
done

# --- report ------------------------------------------------------------------------------------

table() { column -t -s '|' -o ' | ' 2>/dev/null || cat; }
before_table() {
	[[ ${#BEFORE_ROWS[@]} -gt 0 ]] || return 0
	echo
	{
		echo "profile|before (BENCH_BEFORE_BIN)|cipher-test|speed-up|same suites, groups, order, verdict"
		printf '%s\n' "${BEFORE_ROWS[@]}"
		echo "sum|$(ms "$SUM_BEFORE")|$(ms "$SUM_AFTER")|$(ratio_of "$SUM_BEFORE" "$SUM_AFTER")|"
	} | table
	echo "Medians of $RUNS run(s) each, the earlier build alternating run by run with cipher-test on the same server."
}
if [[ -n "$LATENCY" ]]; then
	{
		echo "profile|tool (through ${LATENCY} ms each way = $((2 * LATENCY)) ms RTT)|median wall|ratio to cipher-test|accepted|agrees with cipher-test (all versions)"
		printf '%s\n' "${LAT_ROWS[@]}"
	} | table
	echo
	echo "cipher-test: median of $RUNS run(s); peers: median of $PEER_RUNS run(s). Targets (issue 16, defaults): <= 1.0 s up to ~40 suites over four versions, <= 1.5 s for the wide profile."
	for n in ${PEER_SKIPPED[@]+"${PEER_SKIPPED[@]}"}; do echo "- skipped $n"; done
	before_table
	for n in ${NOTES[@]+"${NOTES[@]}"}; do echo "- $n"; done
	exit "$FAILED"
fi

{
	echo "profile|suites x versions|accepted (cipher-test)|loop found / tried|cipher-test median|loop median|ratio (loop/ct)|sets agree (<=1.2)|exact"
	printf '%s\n' "${ROWS[@]}"
} | column -t -s '|' -o ' | ' 2>/dev/null || {
	echo "profile|suites x versions|accepted (cipher-test)|loop found / tried|cipher-test median|loop median|ratio (loop/ct)|sets agree (<=1.2)|exact"
	printf '%s\n' "${ROWS[@]}"
}
echo
echo "cipher-test: full scan of all versions, median of $RUNS run(s); loop: one s_client per 'openssl ciphers ALL:eNULL' name, no sleep, median of $LOOP_RUNS run(s); wall times."
if [[ ${#LOOP_FLAGS[@]} -gt 0 ]]; then
	echo "The loop ran with extra s_client flags: ${LOOP_FLAGS[*]}. It cannot name a TLS 1.3 suite with -cipher."
else
	echo "The loop cannot name a TLS 1.3 suite with -cipher, and without a version flag s_client also offers TLS 1.3: on a TLS 1.3 server every TLS <= 1.2 suite comes back as TLS_AES_256_GCM_SHA384 and is counted unsupported."
fi
for n in "${NOTES[@]}"; do echo "- $n"; done
if [[ ${#PEER_ROWS[@]} -gt 0 ]]; then
	echo
	{
		echo "profile|tool|median wall|ratio to cipher-test|accepted|agrees with cipher-test (all versions)"
		printf '%s\n' "${PEER_ROWS[@]}"
	} | table
	echo
	echo "Peers: median of $PEER_RUNS run(s) each, cipher-suite enumeration only (sslscan without heartbleed/renegotiation/compression/fallback/groups/cert checks; nmap ssl-enum-ciphers; sslyze --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3; testssl.sh -E). Sets compared as protocol + suite code."
fi
for n in ${PEER_SKIPPED[@]+"${PEER_SKIPPED[@]}"}; do echo "- skipped $n"; done
before_table
if [[ $FAILED -ne 0 ]]; then
	echo
	echo "!!! cipher-test gave a wrong, unstable or incomplete answer on at least one profile (see FAIL above)"
	exit 1
fi
