/* SPDX-License-Identifier: Apache-2.0 */
/* What every runtime shares: the exit handlers, the exec stream names. */
#include <errno.h>
#include <string.h>

#include "runtime/runtime.h"
#include "basic/banned.h"

void runtime_init(struct runtime *rt, const struct runtime_ops *ops, void *data) {
	*rt = (struct runtime){ .ops = ops, .data = data };
	pthread_mutex_init(&rt->handler_lock, NULL);
}

int runtime_exit_handler_add(struct runtime *rt, runtime_exit_fn fn, void *userdata) {
	int r = -ENOSPC;

	pthread_mutex_lock(&rt->handler_lock);
	for (size_t i = 0; i < RUNTIME_EXIT_HANDLERS_MAX; i++)
		if (!rt->on_exit[i].fn) {
			rt->on_exit[i].fn = fn;
			rt->on_exit[i].userdata = userdata;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&rt->handler_lock);
	return r;
}

void runtime_exit_handler_remove(struct runtime *rt, runtime_exit_fn fn, void *userdata) {
	pthread_mutex_lock(&rt->handler_lock);
	for (size_t i = 0; i < RUNTIME_EXIT_HANDLERS_MAX; i++)
		if (rt->on_exit[i].fn == fn && rt->on_exit[i].userdata == userdata)
			rt->on_exit[i].fn = NULL;
	pthread_mutex_unlock(&rt->handler_lock);
}

/* Handlers run under the lock: a handler being removed is never called
 * after runtime_exit_handler_remove() returns. They are quick by contract. */
void runtime_notify_exit(struct runtime *rt, const char *id, const struct wait_outcome *w) {
	pthread_mutex_lock(&rt->handler_lock);
	for (size_t i = 0; i < RUNTIME_EXIT_HANDLERS_MAX; i++)
		if (rt->on_exit[i].fn)
			rt->on_exit[i].fn(id, w, rt->on_exit[i].userdata);
	pthread_mutex_unlock(&rt->handler_lock);
}

static const char *const exec_stream_names[_EXEC_STREAM_MAX] = {
	[EXEC_STREAM_STDOUT] = "stdout",
	[EXEC_STREAM_STDERR] = "stderr",
};

const char *exec_stream_to_string(enum exec_stream s) {
	return s >= 0 && s < _EXEC_STREAM_MAX ? exec_stream_names[s] : NULL;
}

enum exec_stream exec_stream_from_string(const char *s) {
	for (int i = 0; s && i < _EXEC_STREAM_MAX; i++)
		if (streq(s, exec_stream_names[i]))
			return (enum exec_stream)i;
	return _EXEC_STREAM_INVALID;
}
