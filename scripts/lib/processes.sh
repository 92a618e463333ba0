#!/usr/bin/env bash
# Background processes with PID files, and bounded waits. Sourced by native-up.sh and native-down.sh.

# start_bg NAME LOGFILE PIDFILE CMD...: runs CMD in its own session (so stopping it takes its children
# too), output appended to LOGFILE.
start_bg() {
  local name=$1 logfile=$2 pidfile=$3
  shift 3
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "native: started $name (pid $!, log $logfile)"
}

# Whether PID still runs (a zombie waiting for its parent to reap it does not count).
running() { [[ -r /proc/$1/stat ]] && [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# True when PIDFILE names a live process whose command line contains MARK (a recycled PID does not).
pid_alive() { # PIDFILE MARK
  local pid
  [[ -r $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$2" >/dev/null
}

# Stops the process group started by start_bg: SIGTERM (graceful), SIGKILL after TIMEOUT seconds.
stop_bg() { # NAME PIDFILE MARK [TIMEOUT]
  local name=$1 pidfile=$2 mark=$3 timeout=${4:-15} pid i
  if pid_alive "$pidfile" "$mark"; then
    pid=$(<"$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      echo "native: $name (pid $pid) ignored SIGTERM for ${timeout}s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
    echo "native: stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_ready WHAT TIMEOUT PIDFILE MARK LOGFILE CMD...: polls CMD every 0.2 s until it succeeds. Gives up
# after TIMEOUT seconds saying WHAT did not come up, or at once, with the end of LOGFILE, when the process
# in PIDFILE has exited (a crash at start-up, a bad option). PIDFILE may be empty (nothing to watch).
wait_ready() {
  local what=$1 timeout=$2 pidfile=$3 mark=$4 logfile=$5 deadline
  shift 5
  deadline=$((SECONDS + timeout))
  until "$@"; do
    if [[ -n $pidfile ]] && ! pid_alive "$pidfile" "$mark"; then
      echo "native: $what: the process exited during start-up; the end of $logfile:" >&2
      tail -n 15 "$logfile" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "native: $what did not come up within ${timeout}s (log: $logfile)" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Whether this machine can listen on the IPv6 loopback (some containers and CI runners cannot).
ipv6_loopback_available() {
  node -e 'require("net").createServer().once("error",()=>process.exit(1)).listen(0,"::1",function(){this.close()})' 2>/dev/null
}
