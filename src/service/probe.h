/* SPDX-License-Identifier: Apache-2.0 */
/* Probes: one blocking TCP connect, HTTP GET or in-container command,
 * bounded by a timeout and cancellable, plus the init.wait_tcp/wait_http
 * retry loops. Meant for worker threads; no state survives a call. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"

/* Output kept from a probe (response body, command output), in bytes. */
#define PROBE_OUTPUT_MAX 4096
/* Cancellation is noticed within this much time. */
#define PROBE_CANCEL_SLICE_NSEC (100 * UINT64_C(1000000))

/* Filled by every probe, success or not: the failure's reason is the point. */
struct probe_result {
	char *reason; /* NULL on success; "http://...: status 503, expected 200" */
	char *output; /* at most PROBE_OUTPUT_MAX bytes of valid UTF-8, may be NULL */
	int code;     /* HTTP status or exit code; -1 when there is none */
};

void probe_result_release(struct probe_result *r);
static inline void probe_result_releasep(struct probe_result *r) {
	probe_result_release(r);
}
#define _cleanup_probe_result_ _cleanup_(probe_result_releasep)

/* Runs argv inside the container (exec into it) within timeout_nsec. Returns
 * 0 when the command ran, whatever its exit code (*ret_exit_code, 128+signal
 * if killed), with its combined output in *ret_output (malloc'd, may be
 * NULL); -errno when it could not run or timed out (-ETIMEDOUT). */
typedef int (*probe_exec_fn)(void *userdata, char *const *argv, uint64_t timeout_nsec, int *ret_exit_code,
                             char **ret_output);

/* All return 0 on success, -ECANCELED when *cancel became true (cancel may
 * be NULL), -ETIMEDOUT when the timeout passed, another -errno otherwise.
 * Host names resolve through getaddrinfo(), which cancel cannot interrupt. */

/* Connect to host:port (IPv4/IPv6 literal or name, every address in turn).
 * On failure *ret_reason is "connect to 10.88.0.5:8080: connection refused". */
int probe_tcp(const char *host, uint16_t port, uint64_t timeout_nsec, const atomic_bool *cancel, char **ret_reason);

/* GET url (http or https) without proxy, redirects or certificate checks
 * (as Kubernetes' httpGet probes). With localhost_ip set, "localhost",
 * "127.0.0.1" and "[::1]" in the URL connect to localhost_ip instead (the
 * container's address) while the Host header keeps the URL's. expect_status
 * 0 means 200. A status other than expect_status fails with reason
 * "http://...: status 503, expected 200". The body's first
 * PROBE_OUTPUT_MAX bytes are the output; the transfer stops there. */
int probe_http(const char *url, const char *localhost_ip, uint16_t expect_status, uint64_t timeout_nsec,
               const atomic_bool *cancel, struct probe_result *ret);

/* Run `/bin/sh -c command` through exec; exit code 0 is success, another one
 * fails with reason "command exited with 1". */
int probe_command(const char *command, probe_exec_fn exec, void *userdata, uint64_t timeout_nsec,
                  struct probe_result *ret);

/* Init steps: repeat the probe on the host's network (each attempt bounded
 * by min(remaining, 2s), pauses growing 100ms -> 1s) until it succeeds or
 * timeout_nsec passes. Always at least one attempt. On failure *ret_reason
 * is "init.wait_tcp db:5432: not reachable within 30s: connection refused"
 * (-ETIMEDOUT), "init.wait_http http://...: not ready within 30s: status
 * 503, expected 200" (-ETIMEDOUT) or "...: cancelled" (-ECANCELED). */
int init_wait_tcp(const char *host, uint16_t port, uint64_t timeout_nsec, const atomic_bool *cancel, char **ret_reason);
int init_wait_http(const char *url, uint16_t expect_status, uint64_t timeout_nsec, const atomic_bool *cancel,
                   char **ret_reason);

/* A malloc'd copy of at most max bytes of data as valid UTF-8 (invalid
 * sequences and NULs become U+FFFD; never cuts a character in two). */
char *probe_text_clean(const char *data, size_t len, size_t max);
