/* SPDX-License-Identifier: Apache-2.0 */
/* The jobs and crons endpoints (api-jobs.c), registered by the deployment
 * endpoints, which own the service manager the jobs belong to. */
#pragma once

struct api_server;
struct jobs;

void api_jobs_register(struct api_server *api, struct jobs *js);
