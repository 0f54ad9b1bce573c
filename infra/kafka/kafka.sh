#!/usr/bin/env bash
# TMA local Apache Kafka broker: one node, KRaft combined mode (broker + controller), on 127.0.0.1.
#
#   bash infra/kafka/kafka.sh start    # resolve jars (first time), format storage (first time), start, wait until ready
#   bash infra/kafka/kafka.sh stop     # SIGTERM the pid in the pid file, SIGKILL after TMA_KAFKA_STOP_TIMEOUT
#   bash infra/kafka/kafka.sh status   # prints running/stopped; exit 0 running and answering, 3 stopped,
#                                      # 1 process alive but not answering (starting or unhealthy)
#   bash infra/kafka/kafka.sh fetch    # only resolve the jars (Maven), e.g. during setup
#   bash infra/kafka/kafka.sh logs [-f] [LINES]
#
# `start` is idempotent, exits 0 only once the broker answers requests, and its last line on stdout is
#   kafka ready on 127.0.0.1:<port>
# Human progress and errors go to stderr. `stop` when nothing runs exits 0.
#
# Environment (all optional):
#   TMA_STATE_DIR                state root (default <repo>/.state); everything lives in $TMA_STATE_DIR/kafka
#   TMA_KAFKA_PORT               client listener port (default 9092)
#   TMA_KAFKA_CONTROLLER_PORT    KRaft controller port (default TMA_KAFKA_PORT+1)
#   TMA_KAFKA_START_TIMEOUT      seconds to wait for readiness (default 90)
#   TMA_KAFKA_STOP_TIMEOUT       seconds to wait after SIGTERM before SIGKILL (default 30)
#   TMA_KAFKA_HEAP_OPTS          JVM heap flags (default "-Xms256m -Xmx512m")
#   TMA_KAFKA_JVM_OPTS           extra JVM flags, appended last (e.g. -XX:TieredStopAtLevel=1 starts faster)
#   TMA_KAFKA_CDS                1 (default): keep a class-data-sharing archive to start faster; 0: off
#   TMA_KAFKA_AUTO_CREATE_TOPICS auto.create.topics.enable (default false)
#   TMA_KAFKA_LOG_LEVEL          root log level (default INFO)
#   JAVA_HOME                    Java >= 17 to use (default: java on PATH)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM=$SCRIPT_DIR/pom.xml

STATE_ROOT=${TMA_STATE_DIR:-$REPO_ROOT/.state}
mkdir -p "$STATE_ROOT/kafka"
KDIR=$(cd "$STATE_ROOT/kafka" && pwd)
LIBS=$KDIR/libs
DATA=$KDIR/data
LOGDIR=$KDIR/logs
LOG=$LOGDIR/server.log
PIDFILE=$KDIR/kafka.pid
CONF=$KDIR/server.properties
LOG4J=$KDIR/log4j2.properties
LOCK=$KDIR/.lock
CDS_DIR=$KDIR/cds

HOST=127.0.0.1
PORT=${TMA_KAFKA_PORT:-9092}
CPORT=${TMA_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
START_TIMEOUT=${TMA_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${TMA_KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${TMA_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
EXTRA_JVM_OPTS=${TMA_KAFKA_JVM_OPTS:-}
USE_CDS=${TMA_KAFKA_CDS:-1}
AUTO_CREATE=${TMA_KAFKA_AUTO_CREATE_TOPICS:-false}
LOG_LEVEL=${TMA_KAFKA_LOG_LEVEL:-INFO}
JAVA_MIN=17

say() { printf '%s\n' "kafka.sh: $*" >&2; }
die() { printf '%s\n' "kafka.sh: error: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- helpers

# Serialise start/stop/status across concurrent callers (e.g. parallel test runners).
take_lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK"
    flock -w 300 9 || die "could not take lock $LOCK within 300s"
  fi
}

# pid of the broker started from this state folder, or nothing. A pid is only trusted when the
# process's command line is our java running kafka.Kafka with our server.properties.
broker_pid() {
  [[ -f $PIDFILE ]] || return 0
  local pid cmd=""
  pid=$(tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  if [[ -r /proc/$pid/cmdline ]]; then
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  else
    cmd=$(ps -p "$pid" -o args= 2>/dev/null || true)
  fi
  if [[ $cmd == *"kafka.Kafka $CONF"* ]]; then
    echo "$pid"
  fi
}

alive() { kill -0 "$1" 2>/dev/null; }

# Port of the running broker, read from the config it was started with.
running_port() {
  sed -n 's/^listeners=PLAINTEXT:\/\/[^:]*:\([0-9]*\).*/\1/p' "$CONF" 2>/dev/null | head -n1
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -H -ltnp "sport = :$1" 2>/dev/null | head -n3
  fi
}

# Send a Kafka ApiVersions v0 request and check that the broker answers it with our correlation id
# and error_code 0. Proves the broker is serving requests, not only that the port accepts.
#   request: size=13 | api_key=18 | api_version=0 | correlation_id="TMA1" | client_id="tma"
#   response: size(4) | correlation_id(4) | error_code(2) | ...
api_probe() {
  local port=$1 out
  # shellcheck disable=SC2016  # the inner script expands its own $0 $1
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x0d\x00\x12\x00\x00\x54\x4d\x41\x31\x00\x03tma" >&3
    dd bs=10 count=1 iflag=fullblock <&3 2>/dev/null | od -An -tx1
  ' "$HOST" "$port" 2>/dev/null) || return 1
  [[ $out == *"54 4d 41 31 00 00"* ]]
}

check_java() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    JAVA=$JAVA_HOME/bin/java
  elif command -v java >/dev/null 2>&1; then
    JAVA=$(command -v java)
  else
    die "Java not found. Kafka needs Java >= $JAVA_MIN (Debian: apt-get install openjdk-17-jdk-headless), or set JAVA_HOME."
  fi
  local ver major
  JAVA_VERSION_TEXT=$("$JAVA" -version 2>&1 || true)
  ver=$(awk -F'"' '/version/ {print $2; exit}' <<<"$JAVA_VERSION_TEXT")
  [[ -n $ver ]] || die "could not read the version of $JAVA"
  major=${ver%%.*}
  [[ $major == 1 ]] && major=$(echo "$ver" | cut -d. -f2)   # 1.8.0_x -> 8
  major=${major%%[!0-9]*}
  if (( major < JAVA_MIN )); then
    die "Java $ver ($JAVA) is too old: Kafka needs Java >= $JAVA_MIN. Install it or point JAVA_HOME at it."
  fi
}

pom_stamp() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$POM" | cut -d' ' -f1
  else cksum "$POM" | cut -d' ' -f1; fi
}

# Copy the broker jars into $LIBS with Maven, once per version of pom.xml.
ensure_libs() {
  local stamp
  stamp=$(pom_stamp)
  if [[ -f $LIBS/.pom-stamp && $(cat "$LIBS/.pom-stamp") == "$stamp" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) not found: needed once to fetch the Kafka jars (Debian: apt-get install maven)."
  say "resolving Kafka jars from Maven Central into $LIBS (first run or pom.xml changed)"
  mkdir -p "$LOGDIR"
  local tmp=$LIBS.tmp mlog=$LOGDIR/mvn.log rc
  rm -rf "$tmp"
  set +e
  mvn -B -f "$POM" dependency:copy-dependencies -Dkafka.libs.dir="$tmp" 2>&1 | tee "$mlog" |
    grep --line-buffered -E 'Downloaded from .*\.jar|Copying|BUILD|ERROR' | sed -u 's/^/  [mvn] /' >&2
  rc=${PIPESTATUS[0]}
  set -e
  if (( rc != 0 )) || ! compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null; then
    tail -n 30 "$mlog" >&2 || true
    die "Maven could not resolve the Kafka jars (exit $rc); full log: $mlog"
  fi
  echo "$stamp" >"$tmp/.pom-stamp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  local jars=("$LIBS"/*.jar)
  say "jars ready: ${#jars[@]} files"
}

write_config() {
  mkdir -p "$DATA" "$LOGDIR"
  cat >"$CONF" <<EOF
# Generated by infra/kafka/kafka.sh on every start: edit the script, not this file.
# Single-node KRaft, combined mode (this process is both broker and controller).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CPORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA

# One replica of everything: with the defaults (3) internal topics are never created and
# consumer groups never find their coordinator.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal partitions than the default 50: first group join / transaction is faster.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Topics are created explicitly (admin createTopics) so their partition count is deliberate.
auto.create.topics.enable=$AUTO_CREATE
num.partitions=1
delete.topic.enable=true

# Tests and dev: the first consumer group join does not wait 3 s for more members, and consumers may
# use short session timeouts (broker default minimum 6000 ms rejects e.g. sessionTimeout: 3000).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000

# Local dev data does not need to live long.
log.retention.hours=24
EOF
  cat >"$LOG4J" <<EOF
# Generated by infra/kafka/kafka.sh. Everything goes to stdout, which the script sends to logs/server.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $LOG_LEVEL
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
}

java_opts() {
  # shellcheck disable=SC2206
  JAVA_OPTS=($HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent
    -XX:ErrorFile="$LOGDIR/hs_err_pid%p.log" -Xlog:cds=off
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$LOGDIR")
}

# Class-data sharing (JDK dynamic AppCDS) cuts broker start by ~1.5 s: the first broker run records the
# classes it loaded into <archive>.tmp when it exits on SIGTERM; `stop` promotes it to <archive> after a
# clean exit only (a truncated archive crashes the JVM). The name is keyed on the JVM and pom.xml.
# Sets CDS_OPTS and CDS_MODE (use|dump|off).
cds_opts() {
  CDS_OPTS=() CDS_MODE=off
  [[ $USE_CDS == 1 && ${1:-} != off ]] || return 0
  local key archive
  key=$(printf '%s\n%s\n%s\n' "$JAVA" "$JAVA_VERSION_TEXT" "$(pom_stamp)" | cksum | cut -d' ' -f1)
  archive=$CDS_DIR/kafka-$key.jsa
  mkdir -p "$CDS_DIR"
  # archives of other JVMs or jar sets are useless
  find "$CDS_DIR" -maxdepth 1 -name 'kafka-*.jsa*' ! -name "kafka-$key.jsa" -delete 2>/dev/null || true
  if [[ -s $archive ]]; then
    CDS_OPTS=(-XX:SharedArchiveFile="$archive") CDS_MODE=use
  else
    CDS_OPTS=(-XX:ArchiveClassesAtExit="$archive.tmp") CDS_MODE=dump
  fi
}

random_cluster_id() {
  # 16 random bytes, base64url without padding: the format of org.apache.kafka.common.Uuid.
  # Like Uuid.randomUuid(), avoid a leading '-' (it would parse as a command-line flag).
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || { echo "$id"; return; }
  done
}

format_storage() {
  [[ -f $DATA/meta.properties ]] && return 0
  local id out
  id=$(random_cluster_id)
  say "formatting storage $DATA (cluster id $id)"
  if ! out=$("$JAVA" "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
      --cluster-id "$id" --config "$CONF" --ignore-formatted 2>&1); then
    printf '%s\n' "$out" >&2
    die "formatting the KRaft storage failed"
  fi
}

print_log_tail() {
  local errors
  errors=$(grep -A1 -E '\] (ERROR|FATAL) |^Error|^Exception' "$LOG" 2>/dev/null | grep -v '^--$' | head -n 10 | cut -c1-500 || true)
  if [[ -n $errors ]]; then
    say "first errors in $LOG:"
    printf '%s\n' "$errors" >&2
  fi
  say "last lines of $LOG:"
  tail -n "${1:-40}" "$LOG" >&2 2>/dev/null || true
}

# ---------------------------------------------------------------- commands

wait_until_stopped() {   # pid timeout_seconds -> 0 when gone
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    alive "$pid" || return 0
    ((i % 10 == 9)) && printf '.' >&2
    sleep 0.1
  done
  ! alive "$pid"
}

kill_pid() {   # SIGTERM, wait, SIGKILL: only ever the pid we started
  local pid=$1
  KILLED=0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until_stopped "$pid" "$STOP_TIMEOUT"; then
    KILLED=1
    printf '\n' >&2
    say "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until_stopped "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  printf '\n' >&2
}

cmd_start() {
  take_lock
  local pid rport
  pid=$(broker_pid)
  if [[ -n $pid ]]; then
    rport=$(running_port)
    if [[ -n $rport && $rport != "$PORT" ]]; then
      die "kafka already running (pid $pid) on $HOST:$rport, not the requested port $PORT: stop it first"
    fi
    say "kafka already running (pid $pid)"
    if ! wait_ready "$pid" "$(now_ms)"; then
      die "kafka (pid $pid) is running but does not answer on $HOST:$PORT; see: bash infra/kafka/kafka.sh logs"
    fi
    echo "kafka ready on $HOST:$PORT"
    return 0
  fi
  rm -f "$PIDFILE"

  check_java
  local p owner
  for p in "$PORT" "$CPORT"; do
    if port_open "$p"; then
      owner=$(port_owner "$p")
      die "port $p on $HOST is already in use by another process${owner:+:
$owner}
  set TMA_KAFKA_PORT (and TMA_KAFKA_CONTROLLER_PORT) to free ports, or stop that process."
    fi
  done

  ensure_libs

  write_config
  java_opts
  format_storage

  local t0 rc
  t0=$(now_ms)
  say "starting kafka on $HOST:$PORT (controller $CPORT), state in $KDIR"
  cds_opts
  launch_and_wait "$t0" && rc=0 || rc=$?
  if (( rc == 1 )) && [[ $CDS_MODE == use ]] && grep -q 'A fatal error has been detected' "$LOG" 2>/dev/null; then
    say "the JVM crashed at startup with the class-data archive: discarding it and retrying without"
    rm -f "$CDS_DIR"/kafka-*.jsa
    cds_opts off
    launch_and_wait "$t0" && rc=0 || rc=$?
  fi
  if (( rc != 0 )); then
    if (( rc == 2 )); then
      say "not ready after ${START_TIMEOUT}s: stopping pid $BROKER_PID"
      print_log_tail 60
      kill_pid "$BROKER_PID"
    else
      say "the broker exited during startup"
      print_log_tail 60
    fi
    rm -f "$PIDFILE" "$CDS_DIR"/kafka-*.jsa.tmp
    die "kafka failed to start"
  fi
  local t1
  t1=$(now_ms)
  say "kafka started (pid $BROKER_PID) in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))s"
  echo "kafka ready on $HOST:$PORT"
}

# Launch the broker in the background and wait for it. Returns 0 ready, 1 exited, 2 timed out;
# sets BROKER_PID.
launch_and_wait() {
  local t0=$1 pid="" i
  rm -f "$PIDFILE"
  [[ -f $LOG ]] && mv -f "$LOG" "$LOG.1"
  : >"$LOG"
  # setsid: the broker leaves the caller's process group (a Ctrl-C in the caller does not reach it).
  # The child writes its own pid, then execs java, so the pid file holds the JVM's pid.
  # fd 9 (the lock) is closed for the child, and stdio never points at the caller's pipes.
  local launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  # shellcheck disable=SC2086
  # The outer ( ... & ) detaches it from this shell (no job-control noise, no child to reap).
  # shellcheck disable=SC2016  # $$ "$0" "$@" belong to the inner bash
  (
    ${launcher[@]+"${launcher[@]}"} bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
      "$JAVA" "${JAVA_OPTS[@]}" ${CDS_OPTS[@]+"${CDS_OPTS[@]}"} $EXTRA_JVM_OPTS -cp "$LIBS/*" kafka.Kafka "$CONF" \
      </dev/null >>"$LOG" 2>&1 9>&- &
  )
  for ((i = 0; i < 50; i++)); do
    [[ -s $PIDFILE ]] && break
    sleep 0.1
  done
  pid=$(tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true)
  BROKER_PID=$pid
  [[ -n $pid ]] || return 1
  wait_ready "$pid" "$t0" && return 0
  alive "$pid" && return 2
  return 1
}

# Ready = process alive, 'Kafka Server started' in its log (the log is rotated at each launch, so
# the line is this process's), and the broker answers an ApiVersions request.
wait_ready() {
  local pid=$1 t0=$2 n=0
  printf 'kafka.sh: waiting for kafka' >&2
  while :; do
    if ! alive "$pid"; then printf '\n' >&2; return 1; fi
    if grep -q 'Kafka Server started' "$LOG" 2>/dev/null && api_probe "$PORT"; then
      printf '\n' >&2
      return 0
    fi
    if (( $(now_ms) - t0 > START_TIMEOUT * 1000 )); then printf '\n' >&2; return 1; fi
    (( n++ % 4 == 3 )) && printf '.' >&2
    sleep 0.25
  done
}

# After a clean SIGTERM exit the JVM has finished writing <archive>.tmp: keep it. Otherwise drop it.
promote_cds_archive() {
  local tmp
  for tmp in "$CDS_DIR"/kafka-*.jsa.tmp; do
    [[ -e $tmp ]] || continue
    if (( KILLED == 0 )) && [[ -s $tmp ]]; then mv -f "$tmp" "${tmp%.tmp}"; else rm -f "$tmp"; fi
  done
}

cmd_stop() {
  take_lock
  local pid
  pid=$(broker_pid)
  if [[ -z $pid ]]; then
    rm -f "$PIDFILE"
    say "kafka not running"
    return 0
  fi
  printf 'kafka.sh: stopping kafka (pid %s)' "$pid" >&2
  kill_pid "$pid"
  rm -f "$PIDFILE"
  promote_cds_archive
  say "kafka stopped"
}

cmd_status() {
  local pid rport
  pid=$(broker_pid)
  if [[ -z $pid ]]; then
    echo "kafka stopped"
    return 3
  fi
  rport=$(running_port)
  if api_probe "${rport:-$PORT}"; then
    echo "kafka running (pid $pid) on $HOST:${rport:-$PORT}"
    return 0
  fi
  echo "kafka process alive (pid $pid) but not answering on $HOST:${rport:-$PORT} (starting or unhealthy)"
  return 1
}

cmd_fetch() {
  take_lock
  check_java
  ensure_libs
  say "kafka jars ready in $LIBS"
}

cmd_logs() {
  local follow=0 lines=200
  while (($#)); do
    case $1 in
      -f | --follow) follow=1 ;;
      [0-9]*) lines=$1 ;;
      *) die "usage: kafka.sh logs [-f] [LINES]" ;;
    esac
    shift
  done
  [[ -f $LOG ]] || die "no log yet at $LOG"
  if ((follow)); then exec tail -n "$lines" -F "$LOG"; fi
  tail -n "$lines" "$LOG"
}

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  fetch) cmd_fetch ;;
  logs) shift; cmd_logs "$@" ;;
  *) usage ;;
esac
