/* SPDX-License-Identifier: Apache-2.0 */
/* The contract between zlayer-agent and zlayer-shim, its per-container
 * monitor: command line, report line, state-dir files, exit record, control
 * words, log format. Both sides include this; it holds constants only.
 *
 * Invocation (all paths absolute):
 *   zlayer-shim --id ID --bundle DIR --state-dir DIR --runtime PATH
 *               --log-file PATH [--log-max-size BYTES] [--log-max-files N]
 *               [--tty] [--runtime-root DIR] [--systemd-cgroup] [--start]
 * The agent spawns it with stdout (and stderr, if it likes) on the write end
 * of a pipe, and nothing else worth keeping open: the shim closes every
 * inherited fd >= 3. The first process forks and exits at once (waitpid in
 * the agent returns immediately, status 0; 2 for a usage error, with an
 * "error" report). The child calls setsid(), becomes a child subreaper,
 * points its stdio at /dev/null and runs
 *   RUNTIME [--root R] [--systemd-cgroup] create --bundle B
 *           --pid-file STATE/init.pid [--console-socket S] ID
 * (with --start: `RUNTIME ... run --detach --bundle B --pid-file P ... ID`,
 * create and start in one runtime call; the container runs at once and its
 * output during the call is logged like the rest)
 * so the container's init ends up as the shim's child, never the agent's.
 * The agent must not be a child subreaper itself (the detached shim would
 * become its child).
 *
 * Report: exactly one line on the inherited stdout, then the pipe is closed
 * (read to EOF; at most SHIM_REPORT_MAX bytes):
 *   "ok SHIM_PID INIT_PID\n"      container created, not started (with
 *                                 --start: running)
 *   "error MESSAGE\n"             the runtime's error (runc's msg="..." when
 *                                 it has one), one line, capped at 4 KiB;
 *                                 the shim has run `RUNTIME delete -f ID`
 *                                 and exits non-zero
 * The agent then starts the container itself (`runc start ID`), opens a
 * pidfd on INIT_PID right away (the pid is valid until the shim reaps it)
 * and, when it exits, reads STATE/exit.json (retry for a few seconds: the
 * shim drains the container's output first, at most SHIM_DRAIN_TIMEOUT_MS).
 *
 * State dir (created with mode 0700 when missing; every file written with
 * tmp + rename, no fsync: volatile state): shim.pid, init.pid (by the runtime), exit.json,
 * control (a FIFO the shim reads lines from) and, with --tty,
 * console.sock. The shim removes stale init.pid/exit.json at start and
 * leaves all files behind when it exits: the state dir is the agent's.
 *
 * exit.json, written once the container's init has been reaped:
 *   {"exit_code":137,"signal":9,"oom_killed":false,
 *    "finished_at":"2026-11-22T08:00:00.123456789Z",
 *    "finished_at_ns":1795334400123456789}
 * exit_code is the exit status, or 128+signal when killed (signal 0 then
 * means it exited). oom_killed: the memory cgroup's oom_kill counter
 * (cgroup v2 memory.events, cgroup v1 memory.oom_control, kernel >= 4.13)
 * grew between create and the init's death. The cgroup is read from
 * /proc/INIT_PID/cgroup after create, so cgroupfs and systemd drivers,
 * nested and relative cgroupsPath all work.
 *
 * Control: write "collected\n" to STATE/control once exit.json is read; the
 * shim exits 0 (it never deletes the container: the agent runs `runc delete`).
 * "collected" before the exit record exists is ignored. "reopen-logs\n"
 * reopens the log file (after an outside rotation). Unknown words are
 * ignored. If nobody collects, the shim stays (its RSS is well under 1 MiB).
 * If the shim dies, the container keeps running (its init is reparented),
 * but a write to its stdout/stderr then fails with EPIPE/SIGPIPE.
 *
 * Logs: Docker json-file lines, one record per line of output:
 *   {"log":"text\n","stream":"stdout","time":"2026-11-22T08:00:00.123456789Z"}
 * Invalid UTF-8 becomes one \ufffd per bad byte (what Docker/Go write), so
 * every record is valid JSON and jansson reads it. A line longer than
 * SHIM_LOG_LINE_MAX bytes is split into records without the trailing "\n"
 * (split on a UTF-8 boundary); so is an unterminated line at EOF. With
 * --tty the pty output is stream "stdout". Rotation: when a record would
 * push the file past --log-max-size (0: never), the shim renames
 * log.(i-1) -> log.i down to log -> log.1, keeping --log-max-files files in
 * all (log included; 1 means truncate), and starts a new log. Records are
 * never split across files. */
#pragma once

/* The report line. */
#define SHIM_REPORT_OK    "ok"
#define SHIM_REPORT_ERROR "error"
#define SHIM_REPORT_MAX   8192 /* bytes, the agent's read cap */
#define SHIM_ERROR_MAX    4096 /* bytes of message in an "error" line */

/* Exit status of the shim's processes. */
#define SHIM_EXIT_OK      0 /* detached (first process), or collected */
#define SHIM_EXIT_FAILURE 1 /* create failed, or setup failed after detaching */
#define SHIM_EXIT_USAGE   2 /* bad command line (also reported as "error") */

/* Files in the state dir. */
#define SHIM_FILE_PID     "shim.pid"
#define SHIM_FILE_INIT    "init.pid"
#define SHIM_FILE_EXIT    "exit.json"
#define SHIM_FILE_CONTROL "control"
#define SHIM_FILE_CONSOLE "console.sock"

/* exit.json fields. */
#define SHIM_EXIT_CODE        "exit_code"
#define SHIM_EXIT_SIGNAL      "signal"
#define SHIM_EXIT_OOM         "oom_killed"
#define SHIM_EXIT_FINISHED    "finished_at"
#define SHIM_EXIT_FINISHED_NS "finished_at_ns"

/* Control words, one per line on STATE/control. */
#define SHIM_CMD_COLLECTED   "collected"
#define SHIM_CMD_REOPEN_LOGS "reopen-logs"

/* Log records. */
#define SHIM_LOG_FIELD_LOG    "log"
#define SHIM_LOG_FIELD_STREAM "stream"
#define SHIM_LOG_FIELD_TIME   "time"
#define SHIM_STREAM_STDOUT    "stdout"
#define SHIM_STREAM_STDERR    "stderr"
#define SHIM_LOG_LINE_MAX     16384 /* raw bytes per record */
/* Longest record line, "\n" included: every byte escaped as \u00XX. */
#define SHIM_LOG_RECORD_MAX        (SHIM_LOG_LINE_MAX * 6 + 128)
#define SHIM_LOG_MAX_FILES_DEFAULT 2
#define SHIM_LOG_MAX_FILES_MAX     99

/* After the init is reaped, how long the shim waits for the output pipes
 * to reach EOF before it writes exit.json anyway. */
#define SHIM_DRAIN_TIMEOUT_MS 1000
