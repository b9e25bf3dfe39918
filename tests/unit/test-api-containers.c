/* SPDX-License-Identifier: Apache-2.0 */
/* The container endpoints on a real daemon (temporary directories, its
 * event loop in a thread of its own) over an in-memory fake runtime: the
 * handlers, workers, streams, waits and auto-remove without runc. The test
 * thread is the client (the CLI's api_client_* and raw curl for statuses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "cli/client.h"
#include "runtime/runtime.h"
#include "store/store-images.h"

#define IMAGE_DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"

/* ---- fake runtime ---- */

struct fake_log {
	char *stream, *text;
	int64_t t;
};

struct fake_ctr {
	char *id, *image, *digest;
	char **args;
	enum container_state state;
	int exit_code, signal;
	int64_t created, started, finished;
	bool auto_remove;
	struct fake_log *logs;
	size_t n_logs, alloc_logs;
};

static struct {
	pthread_mutex_t lock;
	struct fake_ctr *c[64];
	size_t n;
	atomic_int removes, log_reads;
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct fake_ctr *find(const char *id) {
	for (size_t i = 0; i < fake.n; i++)
		if (streq(fake.c[i]->id, id))
			return fake.c[i];
	return NULL;
}

static int not_found(const char *id, struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such container '%s' (fake)", id);
}

static void add_log(struct fake_ctr *c, const char *stream, int64_t t, const char *text) {
	GROW(c->logs, c->alloc_logs, c->n_logs + 1);
	c->logs[c->n_logs++] = (struct fake_log){ .stream = xstrdup(stream), .text = xstrdup(text), .t = t };
}

static void finish(struct fake_ctr *c, int code, int sig) {
	c->state = CONTAINER_EXITED;
	c->exit_code = code;
	c->signal = sig;
	c->finished = now_ns();
}

static int f_create(struct runtime *rt, const struct container_config *cfg, struct za_error **reterr) {
	struct fake_ctr *c;
	int r = 0;

	pthread_mutex_lock(&fake.lock);
	if (find(cfg->id))
		r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EEXIST, "container name '%s' is already in use",
		                  cfg->id);
	else if (!cfg->image_digest || !streq(cfg->image_digest, IMAGE_DIGEST))
		r = za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL, "unexpected image digest");
	else {
		c = xnew(struct fake_ctr, 1);
		c->id = xstrdup(cfg->id);
		c->image = xstrdup(cfg->image);
		c->digest = xstrdup(cfg->image_digest);
		c->args = strv_copy(cfg->args);
		c->auto_remove = cfg->auto_remove;
		c->state = CONTAINER_INITIALIZING;
		c->created = now_ns();
		fake.c[fake.n++] = c;
	}
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static int f_start(struct runtime *rt, const char *id, struct za_error **reterr) {
	struct fake_ctr *c;
	int r = 0;

	pthread_mutex_lock(&fake.lock);
	c = find(id);
	if (!c)
		r = not_found(id, reterr);
	else if (c->state != CONTAINER_INITIALIZING)
		r = za_error_make(reterr, ZA_ERROR_START_FAILED, EALREADY, "container '%s' was already started", id);
	else {
		c->state = CONTAINER_RUNNING;
		c->started = now_ns();
		/* "echo WORDS": prints and exits at once; "exit N": exits with N */
		if (c->args && streq(c->args[0], "echo")) {
			_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
			for (char **a = c->args + 1; *a; a++)
				strbuf_addf(&sb, "%s%s", a == c->args + 1 ? "" : " ", *a);
			strbuf_addch(&sb, '\n');
			add_log(c, "stdout", now_ns(), strbuf_str(&sb));
			add_log(c, "stderr", now_ns(), "to stderr\n");
			finish(c, 0, 0);
		} else if (c->args && streq(c->args[0], "exit")) {
			int32_t code = 0;
			(void)parse_int32(c->args[1], &code);
			finish(c, code, 0);
		}
	}
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static int f_kill(struct runtime *rt, const char *id, int sig, struct za_error **reterr) {
	struct fake_ctr *c;
	int r = 0;

	pthread_mutex_lock(&fake.lock);
	c = find(id);
	if (!c)
		r = not_found(id, reterr);
	else if (c->state != CONTAINER_RUNNING)
		r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESRCH, "container '%s' is not running", id);
	else
		finish(c, 128 + sig, sig);
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static int f_stop(struct runtime *rt, const char *id, uint64_t timeout_nsec, struct za_error **reterr) {
	struct fake_ctr *c;
	int r = 0;

	pthread_mutex_lock(&fake.lock);
	c = find(id);
	if (!c)
		r = not_found(id, reterr);
	else if (c->state == CONTAINER_RUNNING)
		finish(c, timeout_nsec == 1 ? 137 : 143, timeout_nsec == 1 ? SIGKILL : SIGTERM);
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static void ctr_free(struct fake_ctr *c) {
	for (size_t i = 0; i < c->n_logs; i++) {
		free(c->logs[i].stream);
		free(c->logs[i].text);
	}
	free(c->logs);
	free(c->id);
	free(c->image);
	free(c->digest);
	strv_free(c->args);
	free(c);
}

static int f_remove(struct runtime *rt, const char *id, bool force, struct za_error **reterr) {
	int r;

	pthread_mutex_lock(&fake.lock);
	r = -ENOENT;
	for (size_t i = 0; i < fake.n; i++)
		if (streq(fake.c[i]->id, id)) {
			if (fake.c[i]->state == CONTAINER_RUNNING && !force) {
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY, "container '%s' is running",
				                  id);
				break;
			}
			ctr_free(fake.c[i]);
			fake.c[i] = fake.c[--fake.n];
			atomic_fetch_add(&fake.removes, 1);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&fake.lock);
	return r == -ENOENT ? not_found(id, reterr) : r;
}

static int f_state(struct runtime *rt, const char *id, struct container_status *ret, struct za_error **reterr) {
	struct fake_ctr *c;
	int r = 0;

	pthread_mutex_lock(&fake.lock);
	c = find(id);
	if (!c)
		r = not_found(id, reterr);
	else
		*ret = (struct container_status){ .id = xstrdup(c->id),
			                          .image = xstrdup(c->image),
			                          .image_digest = xstrdup(c->digest),
			                          .state = c->state,
			                          .pid = c->state == CONTAINER_RUNNING ? 4242 : 0,
			                          .ip = c->state == CONTAINER_RUNNING ? xstrdup("10.88.0.9") : NULL,
			                          .exit_code = c->exit_code,
			                          .signal = c->signal,
			                          .created_ns = c->created,
			                          .started_ns = c->started,
			                          .finished_ns = c->finished };
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static int f_list(struct runtime *rt, char ***ret_ids, struct za_error **reterr) {
	char **ids = xnew(char *, 1);

	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n; i++)
		strv_push(&ids, fake.c[i]->id);
	pthread_mutex_unlock(&fake.lock);
	*ret_ids = ids;
	return 0;
}

static int f_logs(struct runtime *rt, const char *id, const struct log_options *o, log_record_fn fn, void *userdata,
                  struct za_error **reterr) {
	struct fake_ctr *c;
	struct fake_log *copy = NULL;
	size_t n = 0, first = 0;

	assert_false(o->follow); /* the API polls */
	atomic_fetch_add(&fake.log_reads, 1);
	pthread_mutex_lock(&fake.lock);
	c = find(id);
	if (!c) {
		pthread_mutex_unlock(&fake.lock);
		return not_found(id, reterr);
	}
	copy = xnew(struct fake_log, c->n_logs + 1);
	for (size_t i = 0; i < c->n_logs; i++)
		if (!o->since_ns || c->logs[i].t >= o->since_ns)
			copy[n++] = (struct fake_log){ .stream = xstrdup(c->logs[i].stream),
				                       .text = xstrdup(c->logs[i].text),
				                       .t = c->logs[i].t };
	pthread_mutex_unlock(&fake.lock);
	if (o->tail && n > o->tail)
		first = n - o->tail;
	for (size_t i = first; i < n; i++)
		if (fn(copy[i].stream, copy[i].t, copy[i].text, strlen(copy[i].text), userdata) < 0)
			break;
	for (size_t i = 0; i < n; i++) {
		free(copy[i].stream);
		free(copy[i].text);
	}
	free(copy);
	return 0;
}

static int f_exec(struct runtime *rt, const char *id, const struct exec_options *o, size_t cap, struct exec_result *ret,
                  struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (char *const *a = o->argv; *a; a++)
		strbuf_addf(&sb, "[%s]", *a);
	*ret = (struct exec_result){ .exit_code = 3, .err = xstrdup("bad \xff byte"), .err_len = 10 };
	ret->out = strbuf_detach(&sb, &ret->out_len);
	return 0;
}

static int f_stats(struct runtime *rt, const char *id, struct container_stats *ret, struct za_error **reterr) {
	*ret = (struct container_stats){
		.cpu_percent = 12.5, .memory_usage = 1 << 20, .memory_limit = 1 << 30, .pids = 3
	};
	return 0;
}

static int f_wait(struct runtime *rt, const char *id, enum wait_condition cond, struct wait_outcome *ret,
                  struct za_error **reterr) {
	fail_msg("the API must not block in the runtime's wait");
	return -EIO;
}

static int f_inspect(struct runtime *rt, const char *id, json_t **ret, struct za_error **reterr) {
	*ret = json_pack("{s:s, s:s, s:s}", "id", id, "runtime", "fake", "state", "stale");
	return 0;
}

static const struct runtime_ops fake_ops = {
	.name = "fake",
	.create = f_create,
	.start = f_start,
	.stop = f_stop,
	.kill = f_kill,
	.remove = f_remove,
	.state = f_state,
	.list = f_list,
	.logs = f_logs,
	.exec = f_exec,
	.stats = f_stats,
	.wait = f_wait,
	.inspect = f_inspect,
};

/* Test side: append a log record / end a container. */
static void fake_append(const char *id, const char *stream, int64_t t, const char *text) {
	pthread_mutex_lock(&fake.lock);
	add_log(find(id), stream, t, text);
	pthread_mutex_unlock(&fake.lock);
}

/* ---- the daemon ---- */

static struct {
	char dir[64];
	struct daemon_config cfg;
	struct daemon *d;
	const struct runtime_ops *real_ops;
	pthread_t thread;
} env;

static void *loop_main(void *arg) {
	assert_int_equal(daemon_loop(env.d, NULL), 0);
	return NULL;
}

static void start_daemon(void) {
	struct store_image img = { .digest = (char *)IMAGE_DIGEST,
		                   .config_digest = (char *)IMAGE_DIGEST,
		                   .media_type = (char *)"application/vnd.oci.image.manifest.v1+json",
		                   .os = (char *)"linux",
		                   .arch = (char *)"amd64",
		                   .references = (char *[]){ (char *)"docker.io/library/busybox:latest", NULL } };
	_cleanup_free_ char *run = NULL;

	snprintf(env.dir, sizeof(env.dir), "/tmp/test-ctrapi-XXXXXX");
	assert_non_null(mkdtemp(env.dir));
	run = xasprintf("%s/run", env.dir);
	daemon_config_init(&env.cfg);
	free(env.cfg.root_dir);
	free(env.cfg.runtime_dir);
	env.cfg.root_dir = xasprintf("%s/root", env.dir);
	env.cfg.runtime_dir = xstrdup(run);
	assert_int_equal(daemon_config_finish(&env.cfg, NULL), 0);
	assert_int_equal(daemon_new(&env.cfg, &env.d, NULL), 0);
	assert_int_equal(store_image_put(env.d->store, &img, NULL), 0);
	/* The daemon's container endpoints run on the fake from now on: the
	 * runtime object is shared, and nothing used it yet (the loop has not
	 * run). */
	env.real_ops = env.d->runtime->ops;
	env.d->runtime->ops = &fake_ops;
	setenv("ZLAYER_RUNTIME_DIR", run, 1);
	assert_int_equal(pthread_create(&env.thread, NULL, loop_main, NULL), 0);
}

static void restore_ops(void *userdata) {
	env.d->runtime->ops = env.real_ops;
}

static void on_stop(void *userdata) {
	daemon_stop(env.d);
}

/* Stop the daemon; returns how long that took, in ms. */
static int64_t stop_daemon(void) {
	int64_t t0 = now_ns();

	daemon_post(env.d, on_stop, NULL);
	pthread_join(env.thread, NULL);
	/* the EXIT hooks ran in daemon_free: workers are gone before the swap */
	daemon_post(env.d, restore_ops, NULL);
	env.d = daemon_free(env.d);
	daemon_config_release(&env.cfg);
	rm_rf(env.dir);
	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n; i++)
		ctr_free(fake.c[i]);
	fake.n = 0;
	pthread_mutex_unlock(&fake.lock);
	return (now_ns() - t0) / 1000000;
}

static int group_setup(void **state) {
	start_daemon();
	return 0;
}

static int group_teardown(void **state) {
	stop_daemon();
	return 0;
}

/* ---- client helpers ---- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
	strbuf_add(userdata, data, size * n);
	return size * n;
}

/* Raw HTTP, for the status code; returns the body's JSON. */
static json_t *http(const char *method, const char *path, const char *body, long expect_status) {
	_cleanup_free_ char *sock = api_client_socket_path(), *url = xasprintf("http://localhost%s", path);
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	CURL *c = curl_easy_init();
	long status = 0;
	json_t *j;

	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	else if (streq(method, "POST"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status != expect_status)
		fail_msg("%s %s: status %ld, want %ld: %s", method, path, status, expect_status, strbuf_str(&out));
	j = json_loadb(out.buf ? out.buf : "", out.len, 0, NULL);
	assert_non_null(j);
	return j;
}

static void assert_error_json(json_t *j, const char *kind, const char *part) {
	const char *m = json_string_value(json_object_get(j, "message"));

	assert_string_equal(json_string_value(json_object_get(j, "kind")), kind);
	if (!m || !strstr(m, part))
		fail_msg("message '%s' lacks '%s'", m, part);
	json_decref(j);
}

/* POST /v1/containers with config; the id. */
static char *create(const char *config_json, const char *pull) {
	_cleanup_free_ char *body = xasprintf("{\"config\": %s%s%s%s}", config_json, pull ? ", \"pull\": \"" : "",
	                                      pull ? pull : "", pull ? "\"" : "");
	json_t *j = http("POST", "/v1/containers", body, 201);
	char *id = xstrdup(json_string_value(json_object_get(j, "id")));

	json_decref(j);
	return id;
}

struct lines {
	json_t *all;
	atomic_int n;
};

static int collect(json_t *line, void *userdata) {
	struct lines *l = userdata;

	json_array_append(l->all, line);
	atomic_fetch_add(&l->n, 1);
	return 0;
}

static json_t *stream(const char *method, const char *path, struct za_error **reterr) {
	struct lines l = { .all = json_array() };

	if (api_client_stream(method, path, NULL, collect, &l, reterr) < 0) {
		json_decref(l.all);
		return NULL;
	}
	return l.all;
}

static const char *line_log(json_t *lines, size_t i) {
	return json_string_value(json_object_get(json_array_get(lines, i), "log"));
}

struct follow_args {
	const char *path;
	struct lines *l;
	struct za_error **err;
};

static void *follow_main(void *p) {
	struct follow_args *a = p;
	(void)api_client_stream("GET", a->path, NULL, collect, a->l, a->err);
	return NULL;
}

static void wait_until_removed(const char *id) {
	for (int i = 0; i < 300; i++) {
		bool gone;
		pthread_mutex_lock(&fake.lock);
		gone = !find(id);
		pthread_mutex_unlock(&fake.lock);
		if (gone)
			return;
		usleep(10 * 1000);
	}
	fail_msg("container %s was not removed", id);
}

/* ---- tests ---- */

static void test_create(void **state) {
	_cleanup_free_ char *id = NULL, *named = NULL;
	json_t *j;

	id = create("{\"image\": \"busybox\"}", NULL);
	assert_int_equal(strlen(id), 15);
	assert_true(strneq(id, "zl-", 3) && strspn(id + 3, "0123456789abcdef") == 12);

	named = create("{\"id\": \"web\", \"image\": \"busybox:latest\"}", "never");
	assert_string_equal(named, "web");
	/* a name in use is a conflict */
	j = http("POST", "/v1/containers", "{\"config\": {\"id\": \"web\", \"image\": \"busybox\"}}", 409);
	assert_error_json(j, "configuration", "container name 'web' is already in use");

	/* by digest prefix */
	free(create("{\"image\": \"111111111111\"}", "never"));

	/* an image that is not there, and may not be pulled */
	j = http("POST", "/v1/containers", "{\"config\": {\"image\": \"nosuch\"}, \"pull\": \"never\"}", 404);
	assert_error_json(j, "not_found", "image 'nosuch' not found");
	/* bad bodies */
	j = http("POST", "/v1/containers", "{\"config\": {\"image\": \"busybox\", \"ports\": [{}]}}", 400);
	assert_error_json(j, "invalid_spec", "config.ports[0]: 'container_port' is required");
	j = http("POST", "/v1/containers", "{\"config\": {\"image\": \"busybox\"}, \"pull\": \"sometimes\"}", 400);
	assert_error_json(j, "invalid_spec", "'pull' must be one of missing, always, never");
	j = http("POST", "/v1/containers", "{\"image\": \"busybox\"}", 400);
	assert_error_json(j, "invalid_spec", "request body: unknown field 'image'");
	j = http("POST", "/v1/containers", "{}", 400);
	assert_error_json(j, "invalid_spec", "request body: field 'config' is required");
	j = http("POST", "/v1/containers", "{\"config\": []}", 400);
	assert_error_json(j, "invalid_spec", "request body: field 'config' must be an object, not an array");
	j = http("POST", "/v1/containers", "{\"config\": {\"image\": \"busybox\"}, \"pull\": 1}", 400);
	assert_error_json(j, "invalid_spec", "request body: field 'pull' must be a string, not an integer");
}

static void test_unknown_container(void **state) {
	static const struct {
		const char *method, *path, *body;
	} calls[] = {
		{ "POST", "/v1/containers/start?id=nope", NULL },
		{ "POST", "/v1/containers/start?id=nope&attach=1", NULL },
		{ "POST", "/v1/containers/stop?id=nope", NULL },
		{ "POST", "/v1/containers/kill?id=nope", NULL },
		{ "DELETE", "/v1/containers?id=nope", NULL },
		{ "GET", "/v1/containers/inspect?id=nope", NULL },
		{ "GET", "/v1/containers/stats?id=nope", NULL },
		{ "POST", "/v1/containers/wait?id=nope", NULL },
		{ "POST", "/v1/containers/exec?id=nope", "{\"argv\": [\"ls\"]}" },
		{ "GET", "/v1/containers/logs?id=nope", NULL },
		{ "GET", "/v1/containers/logs?id=nope&follow=1", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(calls); i++)
		assert_error_json(http(calls[i].method, calls[i].path, calls[i].body, 404), "not_found",
		                  "no such container 'nope'");
}

static void test_bad_queries(void **state) {
	assert_error_json(http("POST", "/v1/containers/stop", NULL, 400), "invalid_spec", "'id' is required");
	assert_error_json(http("POST", "/v1/containers/stop?id=x&timeout=soon", NULL, 400), "invalid_spec",
	                  "'timeout' must be seconds");
	assert_error_json(http("POST", "/v1/containers/kill?id=x&signal=SIGNOPE", NULL, 400), "invalid_spec",
	                  "'signal' must be a signal name");
	assert_error_json(http("POST", "/v1/containers/wait?id=x&condition=soon", NULL, 400), "invalid_spec",
	                  "'condition' must be one of");
	assert_error_json(http("GET", "/v1/containers/logs?id=x&tail=-1", NULL, 400), "invalid_spec", "'tail'");
	assert_error_json(http("GET", "/v1/containers/logs?id=x&tail=100001", NULL, 400), "invalid_spec", "'tail'");
	assert_error_json(http("GET", "/v1/containers/logs?id=x&since=yesterday", NULL, 400), "invalid_spec",
	                  "'since' must be an RFC 3339 time");
	assert_error_json(http("POST", "/v1/containers/exec?id=x", "{\"argv\": []}", 400), "invalid_spec",
	                  "field 'argv' must have at least one entry");
	assert_error_json(http("POST", "/v1/containers/exec?id=x", "{\"argv\": [1]}", 400), "invalid_spec",
	                  "field 'argv[0]' must be a string, not an integer");
}

static void test_attached_run(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\", \"args\": [\"echo\", \"hello\", \"world\"]}", NULL);
	_cleanup_free_ char *path = xasprintf("/v1/containers/start?id=%s&attach=1", id);
	struct za_error *err = NULL;
	json_t *lines = stream("POST", path, &err), *exit;

	assert_non_null(lines);
	assert_int_equal(json_array_size(lines), 3);
	assert_string_equal(line_log(lines, 0), "hello world\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "stream")), "stdout");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 1), "stream")), "stderr");
	assert_non_null(json_string_value(json_object_get(json_array_get(lines, 0), "time")));
	exit = json_object_get(json_array_get(lines, 2), "exit");
	assert_true(json_is_object(exit));
	assert_int_equal(json_integer_value(json_object_get(exit, "exit_code")), 0);
	assert_string_equal(json_string_value(json_object_get(exit, "reason")), "exited");
	json_decref(lines);

	/* a second start fails with the runtime's kind, before any stream */
	lines = stream("POST", path, &err);
	assert_null(lines);
	assert_int_equal(err->kind, ZA_ERROR_START_FAILED);
	za_error_free(err);

	/* the log afterwards: all, tail, since, tail=0 */
	{
		_cleanup_free_ char *p1 = xasprintf("/v1/containers/logs?id=%s", id);
		_cleanup_free_ char *p2 = xasprintf("/v1/containers/logs?id=%s&tail=1", id);
		_cleanup_free_ char *p3 = xasprintf("/v1/containers/logs?id=%s&tail=0", id);
		_cleanup_free_ char *p4 = xasprintf("/v1/containers/logs?id=%s&since=4000000000", id);
		_cleanup_free_ char *p5 = xasprintf("/v1/containers/logs?id=%s&follow=1", id);

		lines = stream("GET", p1, NULL);
		assert_int_equal(json_array_size(lines), 2);
		json_decref(lines);
		lines = stream("GET", p2, NULL);
		assert_int_equal(json_array_size(lines), 1);
		assert_string_equal(line_log(lines, 0), "to stderr\n");
		json_decref(lines);
		lines = stream("GET", p3, NULL);
		assert_int_equal(json_array_size(lines), 0);
		json_decref(lines);
		lines = stream("GET", p4, NULL);
		assert_int_equal(json_array_size(lines), 0);
		json_decref(lines);
		/* following an exited container ends after its log */
		lines = stream("GET", p5, NULL);
		assert_int_equal(json_array_size(lines), 2);
		json_decref(lines);
	}
}

static void test_exit_codes_and_wait(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\", \"args\": [\"exit\", \"3\"]}", NULL);
	_cleanup_free_ char *start = xasprintf("/v1/containers/start?id=%s", id);
	_cleanup_free_ char *wait = xasprintf("/v1/containers/wait?id=%s", id);
	json_t *j;

	/* created, not running: not-running holds at once */
	j = http("POST", wait, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
	json_decref(j);
	json_decref(http("POST", start, NULL, 200));
	j = http("POST", wait, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "reason")), "exited");
	assert_non_null(json_string_value(json_object_get(j, "finished_at")));
	json_decref(j);
}

struct bg_call {
	const char *method;
	char *path;
	long status;
	json_t *reply;
	pthread_t t;
};

static void *bg_main(void *p) {
	struct bg_call *b = p;
	b->reply = http(b->method, b->path, NULL, b->status);
	return NULL;
}

static void bg_start(struct bg_call *b, const char *method, char *path, long status) {
	b->method = method;
	b->path = path;
	b->status = status;
	assert_int_equal(pthread_create(&b->t, NULL, bg_main, b), 0);
}

static void bg_join(struct bg_call *b) {
	pthread_join(b->t, NULL);
	free(b->path);
}

static void test_wait_next_exit_and_kill(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\", \"args\": [\"sleep\"]}", NULL);
	_cleanup_free_ char *q = NULL;
	struct bg_call b;
	json_t *j;

	q = xasprintf("/v1/containers/start?id=%s", id);
	json_decref(http("POST", q, NULL, 200));
	bg_start(&b, "POST", xasprintf("/v1/containers/wait?id=%s&condition=next-exit", id), 200);
	usleep(300 * 1000);
	free(q);
	q = xasprintf("/v1/containers/kill?id=%s&signal=SIGUSR1", id);
	json_decref(http("POST", q, NULL, 200));
	bg_join(&b);
	assert_int_equal(json_integer_value(json_object_get(b.reply, "signal")), SIGUSR1);
	assert_string_equal(json_string_value(json_object_get(b.reply, "reason")), "signal");
	json_decref(b.reply);

	/* kill of a stopped container: the runtime's error passes through */
	assert_error_json(http("POST", q, NULL, 400), "configuration", "is not running");

	/* removed: waits until it is gone */
	bg_start(&b, "POST", xasprintf("/v1/containers/wait?id=%s&condition=removed", id), 200);
	usleep(200 * 1000);
	free(q);
	q = xasprintf("/v1/containers?id=%s", id);
	j = http("DELETE", q, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "id")), id);
	json_decref(j);
	bg_join(&b);
	assert_int_equal(json_integer_value(json_object_get(b.reply, "signal")), SIGUSR1);
	json_decref(b.reply);
}

static void test_follow(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\", \"args\": [\"sleep\"]}", NULL);
	_cleanup_free_ char *start = xasprintf("/v1/containers/start?id=%s", id);
	_cleanup_free_ char *stop = xasprintf("/v1/containers/stop?id=%s&timeout=5", id);
	_cleanup_free_ char *follow = xasprintf("/v1/containers/logs?id=%s&follow=1", id);
	struct lines l = { .all = json_array() };
	struct za_error *err = NULL;
	int64_t t = now_ns();
	pthread_t th;
	int reads;

	json_decref(http("POST", start, NULL, 200));
	fake_append(id, "stdout", t, "a\n");
	fake_append(id, "stdout", t, "b\n"); /* same time: must not be sent twice */

	struct follow_args fa = { follow, &l, &err };

	assert_int_equal(pthread_create(&th, NULL, follow_main, &fa), 0);
	for (int i = 0; i < 300 && atomic_load(&l.n) < 2; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&l.n), 2);
	reads = atomic_load(&fake.log_reads);
	usleep(350 * 1000);
	/* polled every ~100 ms */
	assert_true(atomic_load(&fake.log_reads) - reads >= 2);
	fake_append(id, "stdout", t, "c\n"); /* late, at the same time again */
	fake_append(id, "stderr", t + 1, "d\n");
	for (int i = 0; i < 300 && atomic_load(&l.n) < 4; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&l.n), 4);
	/* written just before it stops: drained */
	fake_append(id, "stdout", t + 2, "e\n");
	json_decref(http("POST", stop, NULL, 200));
	pthread_join(th, NULL);
	assert_null(err);
	assert_int_equal(json_array_size(l.all), 5);
	assert_string_equal(line_log(l.all, 0), "a\n");
	assert_string_equal(line_log(l.all, 1), "b\n");
	assert_string_equal(line_log(l.all, 2), "c\n");
	assert_string_equal(line_log(l.all, 3), "d\n");
	assert_string_equal(line_log(l.all, 4), "e\n");
	json_decref(l.all);
}

/* A tail of records that share their time with earlier ones (the shim
 * stamps a whole read at once): the earlier ones never follow. */
static void test_follow_tail_same_time(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\", \"args\": [\"sleep\"]}", NULL);
	_cleanup_free_ char *start = xasprintf("/v1/containers/start?id=%s", id);
	_cleanup_free_ char *kill = xasprintf("/v1/containers/kill?id=%s", id);
	_cleanup_free_ char *follow = xasprintf("/v1/containers/logs?id=%s&follow=1&tail=2", id);
	struct lines l = { .all = json_array() };
	struct za_error *err = NULL;
	struct follow_args fa = { follow, &l, &err };
	int64_t t = now_ns();
	pthread_t th;

	json_decref(http("POST", start, NULL, 200));
	fake_append(id, "stdout", t - 5, "old\n");
	for (int i = 1; i <= 5; i++) {
		char line[16];
		snprintf(line, sizeof(line), "%d\n", i);
		fake_append(id, "stdout", t, line);
	}
	assert_int_equal(pthread_create(&th, NULL, follow_main, &fa), 0);
	for (int i = 0; i < 300 && atomic_load(&l.n) < 2; i++)
		usleep(10 * 1000);
	usleep(400 * 1000); /* several reads */
	assert_int_equal(atomic_load(&l.n), 2);
	fake_append(id, "stdout", t + 1, "new\n");
	for (int i = 0; i < 300 && atomic_load(&l.n) < 3; i++)
		usleep(10 * 1000);
	json_decref(http("POST", kill, NULL, 200));
	pthread_join(th, NULL);
	assert_null(err);
	assert_int_equal(json_array_size(l.all), 3);
	assert_string_equal(line_log(l.all, 0), "4\n");
	assert_string_equal(line_log(l.all, 1), "5\n");
	assert_string_equal(line_log(l.all, 2), "new\n");
	json_decref(l.all);
}

static void test_auto_remove(void **state) {
	_cleanup_free_ char *id =
	        create("{\"image\": \"busybox\", \"auto_remove\": true, \"args\": [\"echo\", \"bye\"]}", NULL);
	_cleanup_free_ char *attach = xasprintf("/v1/containers/start?id=%s&attach=1", id);
	_cleanup_free_ char *wait = xasprintf("/v1/containers/wait?id=%s", id);
	int removes = atomic_load(&fake.removes);
	json_t *lines, *j;

	/* attached: every line and the exit arrive before the removal */
	lines = stream("POST", attach, NULL);
	assert_int_equal(json_array_size(lines), 3);
	assert_string_equal(line_log(lines, 0), "bye\n");
	assert_true(json_is_object(json_object_get(json_array_get(lines, 2), "exit")));
	json_decref(lines);
	wait_until_removed(id);
	assert_int_equal(atomic_load(&fake.removes), removes + 1);
	/* a late waiter still learns the exit */
	j = http("POST", wait, NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
	json_decref(j);

	/* detached: removed once it exits */
	{
		_cleanup_free_ char *id2 =
		        create("{\"image\": \"busybox\", \"auto_remove\": true, \"args\": [\"sleep\"]}", NULL);
		_cleanup_free_ char *start = xasprintf("/v1/containers/start?id=%s", id2);
		_cleanup_free_ char *kill = xasprintf("/v1/containers/kill?id=%s&signal=9", id2);

		json_decref(http("POST", start, NULL, 200));
		usleep(300 * 1000);
		pthread_mutex_lock(&fake.lock);
		assert_non_null(find(id2));
		pthread_mutex_unlock(&fake.lock);
		json_decref(http("POST", kill, NULL, 200));
		wait_until_removed(id2);
	}
}

static void test_list_inspect_stats_exec(void **state) {
	_cleanup_free_ char *a = create("{\"id\": \"list-a\", \"image\": \"busybox\", \"args\": [\"sleep\"]}", NULL);
	_cleanup_free_ char *b = create("{\"id\": \"list-b\", \"image\": \"busybox\"}", NULL);

	assert_string_equal(a, "list-a");
	assert_string_equal(b, "list-b");
	json_t *j, *arr, *c;
	size_t i;
	bool saw_a = false, saw_b = false;
	int64_t prev = INT64_MAX;

	json_decref(http("POST", "/v1/containers/start?id=list-a", NULL, 200));
	j = http("GET", "/v1/containers", NULL, 200);
	arr = json_object_get(j, "containers");
	json_array_foreach(arr, i, c) {
		const char *cid = json_string_value(json_object_get(c, "id"));
		assert_string_equal(json_string_value(json_object_get(c, "state")), "running");
		saw_a |= streq(cid, "list-a");
		saw_b |= streq(cid, "list-b");
	}
	assert_true(saw_a && !saw_b);
	json_decref(j);
	j = http("GET", "/v1/containers?all=1", NULL, 200);
	saw_a = saw_b = false;
	json_array_foreach(json_object_get(j, "containers"), i, c) {
		const char *cid = json_string_value(json_object_get(c, "id"));
		int64_t created = json_integer_value(json_object_get(c, "created_ns"));
		assert_true(created <= prev); /* newest first */
		prev = created;
		saw_a |= streq(cid, "list-a");
		saw_b |= streq(cid, "list-b");
		if (streq(cid, "list-a")) {
			assert_string_equal(json_string_value(json_object_get(c, "ip")), "10.88.0.9");
			assert_non_null(json_string_value(json_object_get(c, "started_at")));
		}
	}
	assert_true(saw_a && saw_b);
	json_decref(j);

	/* inspect: the runtime's object with the live status over it */
	j = http("GET", "/v1/containers/inspect?id=list-a", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "runtime")), "fake");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 4242);
	json_decref(j);

	j = http("GET", "/v1/containers/stats?id=list-a", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "list-a");
	assert_int_equal(json_integer_value(json_object_get(j, "pids")), 3);
	assert_true(json_real_value(json_object_get(j, "cpu_percent")) == 12.5);
	json_decref(j);

	j = http("POST", "/v1/containers/exec?id=list-a", "{\"argv\": [\"ls\", \"-l\"]}", 200);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "stdout")), "[ls][-l]");
	assert_string_equal(json_string_value(json_object_get(j, "stderr")), "bad \xef\xbf\xbd byte");
	json_decref(j);

	/* a running container is not removed without force */
	assert_error_json(http("DELETE", "/v1/containers?id=list-a", NULL, 400), "configuration", "is running");
	json_decref(http("DELETE", "/v1/containers?id=list-a&force=1", NULL, 200));
	json_decref(http("DELETE", "/v1/containers?id=list-b", NULL, 200));
}

static void test_id_prefix(void **state) {
	_cleanup_free_ char *id = create("{\"image\": \"busybox\"}", NULL);
	_cleanup_free_ char *prefix = xstrndup(id, 9), *path = xasprintf("/v1/containers/inspect?id=%s", prefix);
	json_t *j;

	j = http("GET", path, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "id")), id);
	json_decref(j);
	/* names are never abbreviated */
	free(create("{\"id\": \"prefixed-name\", \"image\": \"busybox\"}", NULL));
	assert_error_json(http("GET", "/v1/containers/inspect?id=prefixed", NULL, 404), "not_found",
	                  "no such container 'prefixed'");
	/* too short to be taken as a prefix */
	assert_error_json(http("GET", "/v1/containers/inspect?id=zl-", NULL, 404), "not_found", "no such container");
}

/* A separate daemon: shutdown with a follow stream and a wait open. */
static void test_shutdown_ends_workers(void **state) {
	_cleanup_free_ char *id = NULL, *start = NULL, *follow = NULL;
	struct lines l = { .all = json_array() };
	struct za_error *err = NULL;
	struct bg_call b;
	pthread_t th;
	int64_t ms;

	start_daemon();
	id = create("{\"image\": \"busybox\", \"args\": [\"sleep\"]}", NULL);
	start = xasprintf("/v1/containers/start?id=%s", id);
	follow = xasprintf("/v1/containers/logs?id=%s&follow=1", id);
	json_decref(http("POST", start, NULL, 200));
	fake_append(id, "stdout", now_ns(), "x\n");

	struct follow_args fa = { follow, &l, &err };

	assert_int_equal(pthread_create(&th, NULL, follow_main, &fa), 0);
	bg_start(&b, "POST", xasprintf("/v1/containers/wait?id=%s", id), 503);
	for (int i = 0; i < 300 && atomic_load(&l.n) < 1; i++)
		usleep(10 * 1000);
	usleep(200 * 1000);
	ms = stop_daemon();
	assert_true(ms < 3000);
	pthread_join(th, NULL);
	bg_join(&b);
	assert_error_json(b.reply, "unsupported", "shutting down");
	assert_int_equal(json_array_size(l.all), 1);
	assert_non_null(err); /* the stream ended with the shutdown's error line */
	assert_non_null(strstr(err->message, "shutting down"));
	za_error_free(err);
	json_decref(l.all);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_unknown_container),
		cmocka_unit_test(test_bad_queries),
		cmocka_unit_test(test_attached_run),
		cmocka_unit_test(test_exit_codes_and_wait),
		cmocka_unit_test(test_wait_next_exit_and_kill),
		cmocka_unit_test(test_follow),
		cmocka_unit_test(test_follow_tail_same_time),
		cmocka_unit_test(test_auto_remove),
		cmocka_unit_test(test_list_inspect_stats_exec),
		cmocka_unit_test(test_id_prefix),
	};
	const struct CMUnitTest shutdown_tests[] = {
		cmocka_unit_test(test_shutdown_ends_workers),
	};
	int r;

	log_set_max_level(LOG_WARNING);
	r = cmocka_run_group_tests_name("containers", tests, group_setup, group_teardown);
	return r + cmocka_run_group_tests_name("shutdown", shutdown_tests, NULL, NULL);
}
