#!/usr/bin/env bash
# The local development/test stack: PostgreSQL (logical decoding on), Apache Kafka 4.3.1 in
# KRaft mode, and Kafka Connect 4.3.1 running Debezium's Postgres connector. No containers:
# the real programs run directly, PostgreSQL from Debian's packages and Kafka/Connect/Debezium
# from their Maven Central jars (see pom.xml).
#
#   bash deploy/local/stack.sh up       start what is not already running (idempotent); also
#                                       installs Chromium, Prometheus and LiteLLM, which tests
#                                       drive
#   bash deploy/local/stack.sh status   print each component up/down; non-zero if any is down
#   bash deploy/local/stack.sh down     stop everything `up` started; no processes left behind
#   bash deploy/local/stack.sh pid C    the pid of component C (postgres, kafka, connect)
#
# All state and logs live under one folder, $STACK_DIR (default: .stack/ at the repo root,
# git-ignored). Deleting it (after `down`) resets the stack; the jars are re-copied from ~/.m2.
set -euo pipefail

# --- Locations ------------------------------------------------------------------------------

# Resolve everything from this file's location so the script works from any directory.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
[[ "$STACK_DIR" == /* ]] || STACK_DIR="$PWD/$STACK_DIR"

LIB_DIR="$STACK_DIR/lib"                              # broker, Connect and tool jars
PLUGIN_DIR="$STACK_DIR/plugins"                       # Connect plugin.path
DEBEZIUM_DIR="$PLUGIN_DIR/debezium-postgres"          # one plugin = one directory
CONF_DIR="$STACK_DIR/conf"                            # rendered config templates
RUN_DIR="$STACK_DIR/run"                              # pid files of the JVMs
LOG_DIR="$STACK_DIR/logs"
PG_DIR="$STACK_DIR/postgres"
PG_DATA="$PG_DIR/data"
KAFKA_DATA="$STACK_DIR/kafka/data"

BIN_DIR="$STACK_DIR/bin"                              # the stack's own helper programs
CONNECTOR_BIN="$BIN_DIR/connector"                    # built from deploy/local/connector

CONNECTOR_FILE="$HERE/debezium-connector.json"

# --- Addresses and credentials (the contract in docs/architecture.md, "The local stack") -----

HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_PASSWORD=demo
PG_DB=beacon
KAFKA_PORT=9092
CONTROLLER_PORT=9093   # KRaft controller listener, loopback only
CONNECT_PORT=8083
CONNECT_URL="http://$HOST:$CONNECT_PORT"
DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DB?sslmode=disable"
SIGNAL_TOPIC=postgres.datastore.signal

# --- Deadlines, in seconds. Every wait has one. ----------------------------------------------

PG_START_TIMEOUT=60
KAFKA_START_TIMEOUT=90
CONNECT_START_TIMEOUT=120
CONNECTOR_RUNNING_TIMEOUT=120
MIGRATE_TIMEOUT=300     # a cold Go module/build cache compiles pgx and goose first
STOP_TIMEOUT=30         # per component, then SIGKILL
LOCK_TIMEOUT=300        # waiting for another `up`/`down` on the same $STACK_DIR

# --- JVM settings for a 2-core / 24 GiB machine ----------------------------------------------
# Fixed, modest heaps (the page cache does Kafka's real caching), G1 with short pauses as
# Kafka's own scripts use, GC/JIT threads sized to 2 cores, and exit on OOM so a broken JVM
# shows up as "down" instead of limping. GC logs go next to the other logs.
jvm_opts() { # $1 = component name
  local name=$1
  printf '%s\n' \
    -server \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
    -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 -XX:CICompilerCount=2 \
    -XX:+ExitOnOutOfMemoryError \
    "-Xlog:gc*:file=$LOG_DIR/$name-gc.log:time,tags:filecount=3,filesize=10M" \
    -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
    "-Dstack.log.dir=$LOG_DIR" "-Dstack.log.name=$name" \
    "-Dbeacon.stack.component=$name" "-Dbeacon.stack.dir=$STACK_DIR"
}
KAFKA_HEAP=(-Xms512m -Xmx1g)
CONNECT_HEAP=(-Xms256m -Xmx1g)

# --- Output helpers --------------------------------------------------------------------------

log() { printf '[stack %3ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# die_with_log MESSAGE LOGFILE: fail, showing the end of the log that explains why.
die_with_log() {
  local msg=$1 logfile=$2
  {
    printf 'stack: error: %s\n' "$msg"
    if [[ -s "$logfile" ]]; then
      printf -- '--- last lines of %s ---\n' "$logfile"
      tail -n 25 "$logfile"
      printf -- '--- end of %s ---\n' "$logfile"
    fi
  } >&2
  exit 1
}

# --- Process and port helpers ----------------------------------------------------------------

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT. Uses bash's /dev/tcp so
# that no extra tool is needed.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# pid_matches PID NEEDLE: PID is alive and its command line contains the argument NEEDLE.
# Guards against a stale pid file whose number now belongs to an unrelated process.
pid_matches() {
  local pid=$1 needle=$2
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Arguments are NUL-terminated: match NEEDLE as a whole argument, not a prefix of one.
  # (Read first, then grep: with pipefail, grep -q closing the pipe early could fail tr.)
  local args
  args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  grep -qxF -- "$needle" <<<"$args"
}

# who_listens PORT: best-effort description of the process on a port, for error messages.
who_listens() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | head -n 3
  fi
}

# ensure_port_free PORT WHAT: fail clearly if a port we are about to use is taken by a process
# that is not ours (ours would have been recognised as healthy before we got here).
ensure_port_free() {
  local port=$1 what=$2 who
  if port_open "$port"; then
    who=$(who_listens "$port")
    die "port $HOST:$port (needed for $what) is already in use by a process that is not part of this stack${who:+:
$who}
Stop that process (or run 'bash deploy/local/stack.sh down' if it is another checkout's stack) and retry.${3:+
$3}"
  fi
}

# wait_for TIMEOUT WHAT LOGFILE PID_CHECK CONDITION...: poll CONDITION until it succeeds.
# PID_CHECK is a command that must keep succeeding (the process is still alive); when it fails,
# or the deadline passes, fail with the end of LOGFILE.
wait_for() {
  local timeout=$1 what=$2 logfile=$3 alive=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! $alive; then
      die_with_log "$what: the process exited while starting; see $logfile" "$logfile"
    fi
    if ((SECONDS >= deadline)); then
      die_with_log "$what: not ready after ${timeout}s; see $logfile" "$logfile"
    fi
    sleep 0.5
  done
}

# stop_pid PID WHAT: SIGTERM, wait up to STOP_TIMEOUT for a clean exit, then SIGKILL the
# process group (each JVM was started in its own session, so its group is only itself).
stop_pid() {
  local pid=$1 what=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

# start_daemon NAME MAIN_CLASS CONFIG HEAP...: start a JVM detached from this shell (own
# session, so Ctrl-C on `make stack-up` does not reach it; stdin closed), record its pid.
# The child writes its own pid before exec'ing java, so the pid file names the JVM itself.
start_daemon() {
  local name=$1 main=$2 config=$3
  shift 3
  local -a opts
  mapfile -t opts < <(jvm_opts "$name")
  rm -f "$RUN_DIR/$name.pid" # may be left from a run that was killed
  # shellcheck disable=SC2016 # $$ and $@ are meant for the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$RUN_DIR/$name.pid" \
    java "$@" "${opts[@]}" -cp "$LIB_DIR/*" "$main" "$config" \
    </dev/null >>"$LOG_DIR/$name.out" 2>&1 9>&- &
  # Wait (briefly) for the pid file so callers can watch the process.
  local tries=50
  while ((tries-- > 0)); do
    [[ -s "$RUN_DIR/$name.pid" ]] && return 0
    sleep 0.1
  done
  die "$name: could not record its pid in $RUN_DIR/$name.pid"
}

java_pid() { # NAME -> pid of our running JVM for that component, or nothing
  local name=$1 pid
  pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)
  if pid_matches "$pid" "-Dbeacon.stack.component=$name" && pid_matches "$pid" "-Dbeacon.stack.dir=$STACK_DIR"; then
    echo "$pid"
  fi
}

# render TEMPLATE OUT: fill in @STACK_DIR@ (the only machine-specific part of the configs).
render() {
  mkdir -p "$(dirname "$2")"
  sed "s|@STACK_DIR@|$STACK_DIR|g" "$1" >"$2.tmp"
  mv "$2.tmp" "$2"
}

# --- Prerequisites ---------------------------------------------------------------------------

require_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(java)
  command -v mvn >/dev/null 2>&1 || missing+=(mvn)
  if ((${#missing[@]})); then
    die "not found: ${missing[*]}. Kafka and Connect run on Java 17+, and their jars come from Maven Central via mvn.
Install them with:  apt-get install -y openjdk-17-jdk-headless maven"
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [[ -n "$major" && "${major%%.*}" -lt 17 ]]; then
    die "Java $major found; Kafka 4.3 needs Java 17 or newer (apt-get install -y openjdk-17-jdk-headless)"
  fi
  command -v go >/dev/null 2>&1 || die "go not found: it is needed to apply the migrations (go run ./cmd/migrate)"
  # curl talks to Connect's REST API. Installed on the development image; install if absent.
  command -v curl >/dev/null 2>&1 || apt_install curl
  # Not parts of the stack, but what `make test` needs beside it: the chat page's tests
  # drive a real headless Chromium (internal/webui).
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  # The same for the observability tests: promtool and a real Prometheus (deploy/observability).
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
}

# apt_install PACKAGE...: install Debian packages (root only). A temporary policy-rc.d keeps
# Debian from starting services during the install: the postgresql package would otherwise
# start its own "main" cluster on port 5432, which is where ours must run.
apt_install() {
  [[ $EUID -eq 0 ]] || die "need Debian packages $*; run as root or: sudo apt-get install -y $*"
  log "installing Debian packages: $*"
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } >"$LOG_DIR/apt.log" 2>&1 || rc=$?
  [[ -z $own_policy ]] || rm -f "$policy"
  ((rc == 0)) || die_with_log "apt-get install $* failed" "$LOG_DIR/apt.log"
}

# --- Jars (Maven) ----------------------------------------------------------------------------

# copy_jars PROFILE DIR: copy the artifacts named by pom.xml's PROFILE, with their runtime
# dependencies, into DIR. Skipped when DIR was completed from the same pom.xml before; ~/.m2
# keeps the downloads between runs so a wiped $STACK_DIR only costs a local copy.
copy_jars() {
  local profile=$1 dir=$2 stamp
  stamp=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
  if [[ -f "$dir/.complete" && "$(cat "$dir/.complete")" == "$stamp" ]]; then
    return 0
  fi
  log "jars: copying Maven profile '$profile' into ${dir#"$STACK_DIR"/} (mvn downloads to ~/.m2 what it lacks)"
  rm -rf "$dir.partial"
  if ! mvn -B -q -f "$HERE/pom.xml" -P "$profile" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.partial" \
    >"$LOG_DIR/maven-$profile.log" 2>&1; then
    die_with_log "mvn could not fetch the '$profile' jars" "$LOG_DIR/maven-$profile.log"
  fi
  # Swap in atomically: a half-copied directory never looks complete.
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  echo "$stamp" >"$dir/.complete"
  log "jars: $(find "$dir" -name '*.jar' | wc -l) jars in ${dir#"$STACK_DIR"/}"
}

ensure_jars() {
  copy_jars kafka "$LIB_DIR"
  copy_jars debezium "$DEBEZIUM_DIR"
}

# --- LiteLLM (PyPI) ---------------------------------------------------------------------------

# Not a part of the stack, but what `make test` needs beside it, as Chromium: LiteLLM, a real
# OpenAI-compatible proxy that the model call's tests put in front of the fake model
# (internal/llm), in a Python virtual environment of its own. About 750 MB, a minute or two
# of pip the first time; skipped once installed at this version.
LITELLM_PACKAGE="litellm[proxy]==1.108.7"
LITELLM_DIR="$STACK_DIR/litellm"

ensure_litellm() {
  if [[ -x "$LITELLM_DIR/bin/litellm" && "$(cat "$LITELLM_DIR/.complete" 2>/dev/null)" == "$LITELLM_PACKAGE" ]]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 not found: the model call's tests run LiteLLM, a Python program"
  # Debian's own Python makes virtual environments only with its python3-venv package.
  python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_install python3-venv
  log "LiteLLM: installing $LITELLM_PACKAGE into ${LITELLM_DIR#"$STACK_DIR"/} (pip downloads from PyPI what it lacks)"
  # A virtual environment cannot be moved once made, so it is made in place; .complete, written
  # last, tells a finished one from one that an interrupted install left behind.
  rm -rf "$LITELLM_DIR"
  if ! { python3 -m venv "$LITELLM_DIR" && "$LITELLM_DIR/bin/pip" install -q --disable-pip-version-check "$LITELLM_PACKAGE"; } \
    >"$LOG_DIR/litellm-install.log" 2>&1; then
    die_with_log "pip could not install $LITELLM_PACKAGE" "$LOG_DIR/litellm-install.log"
  fi
  echo "$LITELLM_PACKAGE" >"$LITELLM_DIR/.complete"
  log "LiteLLM: $("$LITELLM_DIR/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p') installed"
}

# --- PostgreSQL ------------------------------------------------------------------------------

PG_BIN=""

# find_pg_bin: the server binaries matching the data directory's version if it exists, else
# the newest installed. Installs Debian's postgresql package when none is installed.
find_pg_bin() {
  local want=""
  [[ -s "$PG_DATA/PG_VERSION" ]] && want=$(cat "$PG_DATA/PG_VERSION")
  if [[ -n $want && -x /usr/lib/postgresql/$want/bin/postgres ]]; then
    PG_BIN=/usr/lib/postgresql/$want/bin
    return
  fi
  if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    apt_install postgresql
  fi
  PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -x $PG_BIN/postgres ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  if [[ -n $want && $PG_BIN != /usr/lib/postgresql/$want/bin ]]; then
    die "$PG_DATA was created by PostgreSQL $want, but only $PG_BIN is installed.
Install postgresql-$want, or reset the database: bash deploy/local/stack.sh down && rm -rf $PG_DIR"
  fi
}

# as_pg CMD...: PostgreSQL refuses to run as root, so run its programs as the postgres OS user
# when we are root (as the current user otherwise). cd / first: the caller's working directory
# may not be readable by postgres, and initdb/pg_ctl look it up.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

psql_q() { # SQL -> runs it in database $PG_DB (or $PSQL_DB) over TCP with the password
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA \
    -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -d "${PSQL_DB:-$PG_DB}" -c "$1"
}

pg_pid() { # pid of our postmaster, or nothing
  local pid
  pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
  if pid_matches "$pid" "$PG_DATA"; then echo "$pid"; fi
}

pg_healthy() {
  [[ -n "$(pg_pid)" ]] && port_open "$PG_PORT"
}

# make_traversable DIR: the postgres user must be able to reach DIR. Give "others" search
# (x, not read) permission on any ancestor that lacks it, e.g. a checkout under /root.
make_traversable() {
  local dir=$1 path=""
  [[ $EUID -eq 0 ]] || return 0
  runuser -u postgres -- test -x "$dir" 2>/dev/null && return 0
  local part
  IFS=/ read -ra parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    path="$path/$part"
    if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
      log "postgres: granting search permission (o+x) on $path so the postgres user can reach its data"
      chmod o+x "$path"
    fi
  done
}

pg_init() {
  [[ -s "$PG_DATA/PG_VERSION" ]] && return 0
  log "postgres: initialising a new cluster in ${PG_DATA#"$STACK_DIR"/} ($("$PG_BIN/postgres" --version))"
  rm -rf "$PG_DATA" # a half-initialised directory from an interrupted run
  mkdir -p "$PG_DATA"
  local pwfile="$PG_DIR/initdb.pw"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chmod 600 "$pwfile"
  if [[ $EUID -eq 0 ]]; then chown -R postgres:postgres "$PG_DIR"; fi
  chmod 700 "$PG_DATA"
  # Superuser postgres with a SCRAM password; UTF8 with the C locale (always available).
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
    --auth=scram-sha-256 -E UTF8 --no-locale >"$LOG_DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    die_with_log "postgres: initdb failed" "$LOG_DIR/initdb.log"
  fi
  rm -f "$pwfile"
  # Our settings live in deploy/local/postgres/postgresql.conf, copied in as stack.conf.
  echo "include 'stack.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_start() {
  find_pg_bin
  if pg_healthy; then
    log "postgres: already up on $HOST:$PG_PORT (pid $(pg_pid))"
    return 0
  fi
  if [[ -n "$(pg_pid)" ]]; then
    # Ours, but not accepting connections yet (still starting or recovering): wait for it
    # rather than start a second server on the same data directory.
    log "postgres: running (pid $(pg_pid)) but not ready yet, waiting"
    wait_for "$PG_START_TIMEOUT" postgres "$LOG_DIR/postgres.log" true pg_healthy
    log "postgres: ready (pid $(pg_pid))"
    return 0
  fi
  # A postmaster.pid whose pid is not our postmaster (the stack was SIGKILLed, the machine
  # rebooted) is stale. PostgreSQL would refuse to start if that pid now belongs to another
  # process, so remove it; pg_pid checked the pid's command line names our data directory.
  if [[ -f "$PG_DATA/postmaster.pid" && -z "$(pg_pid)" ]]; then
    log "postgres: removing stale postmaster.pid"
    rm -f "$PG_DATA/postmaster.pid"
  fi
  ensure_port_free "$PG_PORT" postgres \
    "If it is Debian's own cluster: pg_ctlcluster $(basename "$(dirname "$PG_BIN")") main stop"
  mkdir -p "$PG_DIR"
  make_traversable "$PG_DIR"
  make_traversable "$LOG_DIR"
  pg_init
  # Re-copy config each start so edits under deploy/local/postgres/ take effect.
  install -m 600 "$HERE/postgres/postgresql.conf" "$PG_DATA/stack.conf"
  install -m 600 "$HERE/postgres/pg_hba.conf" "$PG_DATA/pg_hba.conf"
  touch "$LOG_DIR/postgres.log"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$PG_DATA/stack.conf" "$PG_DATA/pg_hba.conf" "$LOG_DIR/postgres.log"
  fi
  log "postgres: starting on $HOST:$PG_PORT"
  # pg_ctl detaches the server in its own session and -w waits until it accepts connections.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t "$PG_START_TIMEOUT" -s start 9>&-; then
    die_with_log "postgres: did not start within ${PG_START_TIMEOUT}s; see $LOG_DIR/postgres.log" "$LOG_DIR/postgres.log"
  fi
  wait_for "$PG_START_TIMEOUT" postgres "$LOG_DIR/postgres.log" true pg_healthy
  log "postgres: ready (pid $(pg_pid))"
}

pg_ensure_database() {
  if [[ "$(PSQL_DB=postgres psql_q "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    log "postgres: creating database $PG_DB"
    PSQL_DB=postgres psql_q "CREATE DATABASE $PG_DB"
  fi
}

# Migrations are the project's own (cmd/migrate, goose files in migrations/): the schema has one
# source for the stack, the tests and Kubernetes. Applying is idempotent, so every `up` runs it
# and a pulled migration reaches a running stack.
pg_migrate() {
  log "postgres: applying migrations (go run ./cmd/migrate)"
  if ! (cd "$REPO_ROOT" && DATABASE_URL="$DATABASE_URL" timeout "$MIGRATE_TIMEOUT" go run ./cmd/migrate) \
    >"$LOG_DIR/migrate.log" 2>&1; then
    die_with_log "migrations failed (or took over ${MIGRATE_TIMEOUT}s); see $LOG_DIR/migrate.log" "$LOG_DIR/migrate.log"
  fi
  PSQL_DB=$PG_DB psql_q "SELECT 1 FROM pg_tables WHERE schemaname = 'datastore' AND tablename = 'signal'" | grep -qx 1 ||
    die "migrations ran but datastore.signal does not exist; see $LOG_DIR/migrate.log"
}

pg_stop() {
  local pid
  pid=$(pg_pid)
  if [[ -z $pid ]]; then
    log "postgres: not running"
    return 0
  fi
  log "postgres: stopping (pid $pid)"
  # SIGINT is PostgreSQL's "fast" shutdown (what pg_ctl -m fast sends): roll back open
  # transactions, disconnect clients (Debezium's replication connection too), checkpoint, exit.
  kill -INT "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "postgres: no clean stop within ${STOP_TIMEOUT}s, killing its process group"
      # pg_ctl started the postmaster as a session leader: its group holds every backend.
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  log "postgres: stopped"
}

# --- Kafka (KRaft, combined broker + controller) ---------------------------------------------

kafka_healthy() {
  [[ -n "$(java_pid kafka)" ]] && port_open "$KAFKA_PORT" && port_open "$CONTROLLER_PORT"
}

kafka_started_in_log() {
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LOG_DIR/kafka.log" 2>/dev/null
}

kafka_alive() { [[ -n "$(java_pid kafka)" ]]; }

kafka_start() {
  if kafka_healthy; then
    log "kafka: already up on $HOST:$KAFKA_PORT (pid $(java_pid kafka))"
    return 0
  fi
  if kafka_alive; then
    # Ours, still starting (e.g. another `up` is running): wait instead of starting a second.
    log "kafka: running (pid $(java_pid kafka)) but not ready yet, waiting"
    wait_for "$KAFKA_START_TIMEOUT" kafka "$LOG_DIR/kafka.log" kafka_alive kafka_healthy
    log "kafka: ready (pid $(java_pid kafka))"
    return 0
  fi
  ensure_port_free "$KAFKA_PORT" "kafka"
  ensure_port_free "$CONTROLLER_PORT" "the kafka controller"
  render "$HERE/kafka/server.properties" "$CONF_DIR/server.properties"
  mkdir -p "$KAFKA_DATA"
  if [[ ! -s "$KAFKA_DATA/meta.properties" ]]; then
    # A new KRaft node must have its storage formatted with a cluster id. --standalone makes
    # this node the single voter of a dynamic controller quorum.
    # A base64url id; one starting with "-" would be read as an option by the tool's argument
    # parser (1 run in 64 failed so), so draw again, as Kafka's own Uuid.randomUuid does.
    local cluster_id="-"
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    log "kafka: formatting KRaft storage (cluster id $cluster_id)"
    if ! java -cp "$LIB_DIR/*" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
      -Dstack.log.dir="$LOG_DIR" -Dstack.log.name=kafka-storage \
      kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONF_DIR/server.properties" \
      >"$LOG_DIR/kafka-storage.out" 2>&1; then
      die_with_log "kafka: formatting storage failed" "$LOG_DIR/kafka-storage.out"
    fi
  fi
  log "kafka: starting on $HOST:$KAFKA_PORT (controller $HOST:$CONTROLLER_PORT, heap ${KAFKA_HEAP[*]})"
  # A fresh log file per start so the readiness check below sees this start's line only.
  [[ ! -f "$LOG_DIR/kafka.log" ]] || mv -f "$LOG_DIR/kafka.log" "$LOG_DIR/kafka.log.previous"
  start_daemon kafka kafka.Kafka "$CONF_DIR/server.properties" "${KAFKA_HEAP[@]}"
  wait_for "$KAFKA_START_TIMEOUT" kafka "$LOG_DIR/kafka.log" kafka_alive kafka_started_in_log
  log "kafka: ready (pid $(java_pid kafka))"
}

kafka_stop() { stop_component kafka; }

# stop_component NAME: stop our JVM for NAME, found through its pid file.
stop_component() {
  local name=$1 pid
  pid=$(java_pid "$name")
  if [[ -z $pid ]]; then
    log "$name: not running"
    rm -f "$RUN_DIR/$name.pid"
    return 0
  fi
  log "$name: stopping (pid $pid)"
  stop_pid "$pid" "$name"
  rm -f "$RUN_DIR/$name.pid"
  log "$name: stopped"
}

# --- Kafka Connect + Debezium ----------------------------------------------------------------

connect_alive() { [[ -n "$(java_pid connect)" ]]; }

# Connect answers GET /connectors only after the worker has joined its group and read its
# config topic, i.e. when it can actually take a connector.
connect_ready() {
  curl -fsS -m 5 -o /dev/null "$CONNECT_URL/connectors" 2>/dev/null
}

connect_healthy() { connect_alive && connect_ready; }

connect_start() {
  if connect_healthy; then
    log "connect: already up on $CONNECT_URL (pid $(java_pid connect))"
    return 0
  fi
  if connect_alive; then
    log "connect: running (pid $(java_pid connect)) but not ready yet, waiting"
    wait_for "$CONNECT_START_TIMEOUT" connect "$LOG_DIR/connect.log" connect_alive connect_ready
    log "connect: ready (pid $(java_pid connect))"
    return 0
  fi
  ensure_port_free "$CONNECT_PORT" "kafka connect"
  render "$HERE/kafka/connect-distributed.properties" "$CONF_DIR/connect-distributed.properties"
  log "connect: starting on $CONNECT_URL (plugin.path ${PLUGIN_DIR#"$STACK_DIR"/}, heap ${CONNECT_HEAP[*]})"
  # A fresh log file per start, as for Kafka: the one from the previous run is kept beside it.
  [[ ! -f "$LOG_DIR/connect.log" ]] || mv -f "$LOG_DIR/connect.log" "$LOG_DIR/connect.log.previous"
  start_daemon connect org.apache.kafka.connect.cli.ConnectDistributed \
    "$CONF_DIR/connect-distributed.properties" "${CONNECT_HEAP[@]}"
  wait_for "$CONNECT_START_TIMEOUT" connect "$LOG_DIR/connect.log" connect_alive connect_ready
  log "connect: ready (pid $(java_pid connect))"
}

connect_stop() { stop_component connect; }

# The connector is handled by deploy/local/connector, a small Go program that reads
# debezium-connector.json and speaks Connect's REST API with real JSON parsing: the connector's
# name (the file's "name" key, the one place it is defined), a semantic comparison of the
# registered config with the file's, PUT .../config retried on 409/5xx until the deadline,
# the restart of failed parts, the wait for RUNNING, and the status row. It prints one progress
# line per step on stdout (logged here with our prefix) and its final error on stderr; its exit
# status is 0 (done), 1 (failed) or 3 (failed in a way Connect's log explains).
#
# It is built into $BIN_DIR rather than run with `go run`, which would turn every failure into
# exit status 1 and add a line to stderr. `go build` leaves an up-to-date binary alone, so this
# costs a fraction of a second once built.
connector_build() {
  local out
  mkdir -p "$BIN_DIR"
  out=$(cd "$REPO_ROOT" && go build -o "$CONNECTOR_BIN" ./deploy/local/connector 2>&1) ||
    die "could not build deploy/local/connector (go build):
$out"
}

# connector_helper ARGS...: run the helper (built by connector_build) with this stack's settings.
connector_helper() {
  (cd "$REPO_ROOT" && exec "$CONNECTOR_BIN" -file "${CONNECTOR_FILE#"$REPO_ROOT"/}" -url "$CONNECT_URL" \
    -topic "$SIGNAL_TOPIC" -broker "$HOST:$KAFKA_PORT" -timeout "${CONNECTOR_RUNNING_TIMEOUT}s" -connect-log "$LOG_DIR/connect.log" "$@")
}

# connector_query ARGS...: the helper's output, for the status rows. On failure its message is
# shown as an error and the status goes on (the row then shows the connector down).
connector_query() {
  local errfile out rc=0
  errfile=$(mktemp)
  out=$(connector_helper "$@" 2>"$errfile") || rc=$?
  if ((rc != 0)); then
    printf 'stack: error: %s\n' "$(cat "$errfile")" >&2
  fi
  rm -f "$errfile"
  printf '%s\n' "$out"
}

# connector_register: make Connect's connector match debezium-connector.json (a PUT only when
# the configs differ), restart failed parts once, and wait until the connector and its tasks
# are RUNNING, logging the helper's progress as it goes.
connector_register() {
  local errfile line rc=0 msg
  errfile=$(mktemp)
  while IFS= read -r line; do
    log "$line"
  done < <(connector_helper register 2>"$errfile")
  wait $! || rc=$?
  msg=$(cat "$errfile")
  rm -f "$errfile"
  case $rc in
    0) ;;
    3) die_with_log "$msg" "$LOG_DIR/connect.log" ;;
    *) die "${msg:-deploy/local/connector register failed (exit status $rc)}" ;;
  esac
}

# --- Subcommands -----------------------------------------------------------------------------

# take_lock: one `up` or `down` at a time per $STACK_DIR (e.g. `make test` in two terminals).
# The lock is fd 9; the servers are started with fd 9 closed so they do not hold it.
take_lock() {
  exec 9>"$RUN_DIR/stack.lock"
  if ! flock -n 9; then
    log "waiting for another stack.sh up/down on $STACK_DIR to finish"
    flock -w "$LOCK_TIMEOUT" 9 || die "another stack.sh up/down still holds $RUN_DIR/stack.lock after ${LOCK_TIMEOUT}s"
  fi
}

# preflight_ports: before starting anything, make sure no foreign process holds a port of a
# component we will have to start, so a conflict never leaves a half-started stack.
# (A component whose process is ours and alive is never a conflict, even if not ready yet.)
preflight_ports() {
  [[ -n "$(pg_pid)" ]] || ensure_port_free "$PG_PORT" postgres \
    "If it is Debian's own cluster: pg_ctlcluster $(basename "$(dirname "$PG_BIN")") main stop"
  if ! kafka_alive; then
    ensure_port_free "$KAFKA_PORT" kafka
    ensure_port_free "$CONTROLLER_PORT" "the kafka controller"
  fi
  connect_alive || ensure_port_free "$CONNECT_PORT" "kafka connect"
}

cmd_up() {
  mkdir -p "$STACK_DIR" "$LOG_DIR" "$RUN_DIR" "$CONF_DIR" "$PLUGIN_DIR"
  take_lock
  require_tools
  find_pg_bin
  preflight_ports
  # Order matters: Connect needs Kafka; the connector needs the table (publication filtered).
  pg_start
  pg_ensure_database
  pg_migrate
  ensure_jars
  ensure_litellm
  kafka_start
  connect_start
  connector_build
  connector_register
  log "stack is up in ${SECONDS}s. Logs: $LOG_DIR"
  print_status
  cat <<EOF

  export DATABASE_URL='$DATABASE_URL'
  export KAFKA_BROKERS='$HOST:$KAFKA_PORT'
  export CONNECT_URL='$CONNECT_URL'
EOF
}

cmd_down() {
  if [[ -d $RUN_DIR ]]; then take_lock; fi
  # Reverse order: Connect first (it would otherwise retry against a vanishing broker and
  # keep Debezium's replication connection busy), then Kafka, then Postgres.
  connect_stop
  kafka_stop
  pg_stop
  # Safety net: any JVM still carrying this stack's marker (e.g. its pid file was deleted).
  local pid
  for pid in $(stray_pids); do
    log "stopping leftover stack process $pid"
    stop_pid "$pid" "process $pid"
  done
  log "stack is down"
}

# stray_pids: processes whose command line marks them as started by this stack directory.
stray_pids() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid == "$$" ]] && continue
    if pid_matches "$pid" "-Dbeacon.stack.dir=$STACK_DIR"; then
      echo "$pid"
    fi
  done
}

# print_status: one line per component; returns non-zero when any is down.
print_status() {
  local down=0 pid updown name description
  row() { printf '  %-10s %-5s %-28s %s\n' "$@"; }

  if pg_healthy; then
    row postgres up "$HOST:$PG_PORT" "pid $(pg_pid), database $PG_DB, data ${PG_DATA#"$REPO_ROOT"/}"
  else
    row postgres down "$HOST:$PG_PORT" "log ${LOG_DIR#"$REPO_ROOT"/}/postgres.log"
    down=1
  fi

  pid=$(java_pid kafka)
  if kafka_healthy; then
    row kafka up "$HOST:$KAFKA_PORT" "pid $pid, KRaft controller $HOST:$CONTROLLER_PORT"
  else
    row kafka down "$HOST:$KAFKA_PORT" "log ${LOG_DIR#"$REPO_ROOT"/}/kafka.log"
    down=1
  fi

  pid=$(java_pid connect)
  if connect_healthy; then
    row connect up "$CONNECT_URL" "pid $pid"
    # One line from the helper: up|down, the connector's name, what Connect says of it.
    IFS=$'\t' read -r updown name description <<<"$(connector_query status)"
    row connector "${updown:-down}" "$name" "$description"
    [[ $updown == up ]] || down=1
  else
    row connect down "$CONNECT_URL" "log ${LOG_DIR#"$REPO_ROOT"/}/connect.log"
    row connector down "$(connector_query name)" "needs connect"
    down=1
  fi
  return "$down"
}

cmd_status() {
  connector_build
  echo "local stack in $STACK_DIR:"
  print_status
}

# cmd_pid COMPONENT: the pid of a running component (postgres: the postmaster), for tools
# that signal it (the fault suite); exits 1 when it is not running.
cmd_pid() {
  local pid
  case "${1:-}" in
    postgres) pid=$(pg_pid) ;;
    kafka | connect) pid=$(java_pid "$1") ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
  [[ -n $pid ]] || exit 1
  echo "$pid"
}

usage() {
  cat <<EOF
usage: bash deploy/local/stack.sh up|down|status|pid postgres|kafka|connect

  up      start Postgres ($HOST:$PG_PORT), Kafka ($HOST:$KAFKA_PORT), Kafka Connect ($CONNECT_URL)
          and register the Debezium connector; a no-op for what is already running
  status  show what is up; exits non-zero if anything is down
  down    stop everything 'up' started
  pid     print the pid of a running component (exit 1 if it is not running)

State and logs: \$STACK_DIR (now $STACK_DIR)
EOF
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    pid) cmd_pid "${2:-}" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
