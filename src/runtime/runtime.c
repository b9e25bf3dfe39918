/* SPDX-License-Identifier: Apache-2.0 */
/* What every runtime shares: the exit handler slot. */
#include "runtime/runtime.h"
#include "basic/banned.h"

void runtime_init(struct runtime *rt, const struct runtime_ops *ops, void *data) {
	rt->ops = ops;
	rt->data = data;
	pthread_mutex_init(&rt->handler_lock, NULL);
	rt->on_exit = NULL;
	rt->on_exit_userdata = NULL;
}

void runtime_exit_handler_set(struct runtime *rt, runtime_exit_fn fn, void *userdata) {
	pthread_mutex_lock(&rt->handler_lock);
	rt->on_exit = fn;
	rt->on_exit_userdata = userdata;
	pthread_mutex_unlock(&rt->handler_lock);
}

void runtime_exit_handler_get(struct runtime *rt, runtime_exit_fn *ret_fn, void **ret_userdata) {
	pthread_mutex_lock(&rt->handler_lock);
	*ret_fn = rt->on_exit;
	*ret_userdata = rt->on_exit_userdata;
	pthread_mutex_unlock(&rt->handler_lock);
}
