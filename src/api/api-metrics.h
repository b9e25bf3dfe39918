/* SPDX-License-Identifier: Apache-2.0 */
/* What other API modules tell /metrics (api-metrics.c): image pulls and the
 * bytes they fetched. The registration is api_metrics_register() in
 * daemon.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct pull_progress;
struct pull_tally_layer;

/* Bytes one pull fetched from its registry, from its progress reports: per
 * layer, from where its download began (a resumed one at its offset) to
 * the last byte reported. Fed from one thread at a time (the pull's). */
struct metrics_pull_tally {
	struct pull_tally_layer *layers;
	size_t n, alloc;
};
void metrics_pull_tally_progress(struct metrics_pull_tally *t, const struct pull_progress *pp);
uint64_t metrics_pull_tally_bytes(const struct metrics_pull_tally *t);
void metrics_pull_tally_release(struct metrics_pull_tally *t);

/* A registry pull ended (loop thread); a no-op before /metrics exists. */
void api_metrics_image_pulled(struct daemon *d, bool ok, uint64_t bytes);
