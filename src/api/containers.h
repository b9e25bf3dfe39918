/* SPDX-License-Identifier: Apache-2.0 */
/* The container endpoints of the daemon API (api-containers.c, logs and
 * attach in api-containers-logs.c, exec in api-containers-exec.c) on top of
 * a runtime the daemon owns:
 *   POST   /v1/containers                 {config, pull}  -> 201 {id}
 *   POST   /v1/containers/start?id=[&attach=1]            -> {id}, or with attach JSON lines
 *                                                            {stream, time, log}... then {exit: {...}}
 *   POST   /v1/containers/stop?id=[&timeout=SECONDS]
 *   POST   /v1/containers/kill?id=[&signal=SIG]
 *   DELETE /v1/containers?id=[&force=1]
 *   GET    /v1/containers[?all=1]                         -> {containers: [status...]}
 *   GET    /v1/containers/inspect?id=                     -> the runtime's inspect merged with status
 *   GET    /v1/containers/stats?id=                       -> one sample
 *   POST   /v1/containers/wait?id=[&condition=not-running|next-exit|removed]
 *                                                         -> {exit_code, reason, signal, finished_at}
 *   POST   /v1/containers/exec?id=[&stream=1]  {argv, env, workdir, user}
 *                                                         -> {exit_code, stdout, stderr}, or with stream
 *                                                            JSON lines {stream, data[, encoding]}... then {exit_code}
 *   GET    /v1/containers/logs?id=[&follow=1&tail=N&since=T] -> JSON lines {stream, time, log}
 * Every runtime call runs on a worker thread; replies leave from the loop
 * thread. Containers created with auto_remove are removed when they exit. */
#pragma once

#include "api/daemon.h"
#include "runtime/runtime.h"

/* Add the routes and hooks; rt stays the caller's and must outlive the
 * daemon's EXIT hooks (workers are joined there). */
int api_containers_register(struct daemon *d, struct runtime *rt);
