/* SPDX-License-Identifier: Apache-2.0 */
#include "image/layers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "image/digest.h"
#include "image/registry.h"
#include "image/unpack.h"
#include "basic/banned.h"

#define PIPE_BUFFER_SIZE (1 << 20)

static const char *const pull_layer_state_table[_PULL_LAYER_STATE_MAX] = {
	[PULL_LAYER_WAITING] = "waiting",     [PULL_LAYER_DOWNLOADING] = "downloading",
	[PULL_LAYER_VERIFYING] = "verifying", [PULL_LAYER_EXISTS] = "exists",
	[PULL_LAYER_DONE] = "done",
};

const char *pull_layer_state_to_string(enum pull_layer_state s) {
	return s >= 0 && s < _PULL_LAYER_STATE_MAX ? pull_layer_state_table[s] : NULL;
}

char *snapshot_path(const char *root_dir, const char *chain_id) {
	return xasprintf("%s/snapshots/%s", root_dir, strempty(digest_hex(chain_id)));
}

/* --- claims ------------------------------------------------------------ */

struct claim {
	char *key;
	unsigned users;
	bool busy; /* someone is creating what the key names */
	struct claim *next;
};

static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t claims_cond = PTHREAD_COND_INITIALIZER;
static struct claim *claims;

static struct claim *claim_find(const char *key) {
	for (struct claim *c = claims; c; c = c->next)
		if (streq(c->key, key))
			return c;
	return NULL;
}

void claim_hold(const char *key) {
	struct claim *c;

	pthread_mutex_lock(&claims_lock);
	c = claim_find(key);
	if (!c) {
		c = xnew(struct claim, 1);
		c->key = xstrdup(key);
		c->next = claims;
		claims = c;
	}
	c->users++;
	pthread_mutex_unlock(&claims_lock);
}

static void claim_unlink(struct claim *c) {
	for (struct claim **p = &claims; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			free(c->key);
			free(c);
			return;
		}
}

bool claim_drop_last(const char *key) {
	struct claim *c;
	bool last = true;

	pthread_mutex_lock(&claims_lock);
	c = claim_find(key);
	if (c) {
		last = c->users <= 1;
		if (--c->users == 0)
			claim_unlink(c);
	}
	pthread_mutex_unlock(&claims_lock);
	return last;
}

void claim_drop(const char *key) {
	(void)claim_drop_last(key);
}

bool claim_in_use(const char *key) {
	bool r;

	pthread_mutex_lock(&claims_lock);
	r = claim_find(key) != NULL;
	pthread_mutex_unlock(&claims_lock);
	return r;
}

/* Become the creator of key (held by us already): true at once when nobody
 * is, else false unless `wait`, which blocks until the other creator ends. */
static bool claim_busy(const char *key, bool wait) {
	struct claim *c;
	bool got = false;

	pthread_mutex_lock(&claims_lock);
	c = claim_find(key);
	if (c) {
		while (c->busy && wait)
			pthread_cond_wait(&claims_cond, &claims_lock);
		if (!c->busy)
			got = c->busy = true;
	}
	pthread_mutex_unlock(&claims_lock);
	return got;
}

static void claim_unbusy(const char *key) {
	struct claim *c;

	pthread_mutex_lock(&claims_lock);
	c = claim_find(key);
	if (c)
		c->busy = false;
	pthread_cond_broadcast(&claims_cond);
	pthread_mutex_unlock(&claims_lock);
}

/* --- one layer --------------------------------------------------------- */

struct layer_task {
	struct layers_job *job;
	size_t idx;
	const struct oci_descriptor *desc;
	const char *diff_id;
	char *chain_id;
	char *snap_dir;
	bool busy;             /* we hold chain_id busy */
	bool done;             /* snapshot present */
	bool created_snapshot; /* by us, in this job */
	bool created_blob;

	char *tmp_dir;
	int tmp_fd;
	int unpack_fd; /* what the unpack thread reads: a pipe or the blob */
	int pipe_w;
	struct content_writer *writer;
	struct registry_blob_request req;
	struct za_error *data_err; /* why task_on_data refused data */
	pthread_t thread;
	bool thread_started;
	atomic_bool unpack_failed;
	char *got_diff_id;
	int unpack_r;
	struct za_error *unpack_err;
	struct layer_unpack_stats stats;
};

static void task_progress(struct layer_task *t, enum pull_layer_state st, uint64_t cur) {
	if (t->job->on_progress)
		t->job->on_progress(
		        &(struct pull_progress){
		                .layer_digest = t->desc->digest, .state = st, .current = cur, .total = t->desc->size },
		        t->job->userdata);
}

static void *unpack_thread(void *userdata) {
	struct layer_task *t = userdata;
	char buf[1 << 16];

	if (layer_media_type_is_wasm(t->desc->media_type))
		t->unpack_r = layer_store_file(t->unpack_fd, t->tmp_fd, LAYER_MODULE_FILE_NAME, UINT64_C(256) << 20,
		                               &t->got_diff_id, &t->stats, &t->unpack_err);
	else
		t->unpack_r = layer_unpack(t->unpack_fd, t->tmp_fd, &t->got_diff_id, &t->stats, &t->unpack_err);
	if (t->unpack_r < 0)
		atomic_store(&t->unpack_failed, true);
	/* Drain, so the writer side never blocks on a full pipe. */
	while (read(t->unpack_fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static int task_on_data(const void *data, size_t len, void *userdata) {
	struct layer_task *t = userdata;
	int r;

	if (atomic_load(&t->unpack_failed))
		return -ECANCELED;
	if (t->job->cancel && atomic_load(t->job->cancel)) {
		za_error_make(&t->data_err, ZA_ERROR_PULL_FAILED, ECANCELED, "cancelled: the daemon is shutting down");
		return -ECANCELED;
	}
	r = content_writer_write(t->writer, data, len, &t->data_err);
	if (r < 0)
		return r;
	r = loop_write(t->pipe_w, data, len);
	return r < 0 ? r : 0;
}

static void task_on_progress(const struct registry_blob_request *req, void *userdata) {
	struct layer_task *t = userdata;
	task_progress(t, PULL_LAYER_DOWNLOADING, req->bytes_received);
}

/* Start unpacking into a fresh temp dir; from the stored blob, or from a
 * pipe that the download feeds. */
static int task_start(struct layer_task *t, struct za_error **reterr) {
	struct layers_job *job = t->job;
	_cleanup_free_ char *tmpl = xasprintf("%s/tmp/layer-XXXXXX", job->root_dir);
	int r;

	if (!mkdtemp(tmpl))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno,
		                     "cannot create a temporary directory under '%s/tmp': %m", job->root_dir);
	t->tmp_dir = TAKE_PTR(tmpl);
	t->tmp_fd = open(t->tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->tmp_fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot open '%s': %m", t->tmp_dir);

	if (content_has(job->content, t->desc->digest, NULL)) {
		_cleanup_free_ char *path = content_path(job->content, t->desc->digest);
		t->unpack_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->unpack_fd < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot open blob '%s': %m", path);
	} else {
		int p[2];

		if (!job->client)
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, ENOENT,
			                     "layer '%s' is missing from the image source", t->desc->digest);
		r = content_writer_open(job->content, t->desc->digest, t->desc->size, &t->writer, reterr);
		if (r < 0)
			return r;
		if (pipe2(p, O_CLOEXEC) < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create a pipe: %m");
		(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_BUFFER_SIZE);
		t->unpack_fd = p[0];
		t->pipe_w = p[1];
		t->created_blob = true;
	}
	if ((r = -pthread_create(&t->thread, NULL, unpack_thread, t)) < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot start an unpack thread: %m");
	t->thread_started = true;

	if (t->writer && content_writer_offset(t->writer) > 0) {
		/* Resumed download: replay what is already on disk into the unpacker. */
		_cleanup_close_ int pfd = content_writer_partial_fd(t->writer);
		uint64_t left = content_writer_offset(t->writer);
		char buf[1 << 16];

		log_debug("resuming layer %s at byte %" PRIu64, t->desc->digest, left);
		while (pfd >= 0 && left > 0) {
			ssize_t n = read(pfd, buf, MIN(sizeof(buf), left));
			if (n <= 0 || loop_write(t->pipe_w, buf, (size_t)n) < 0)
				break;
			left -= (uint64_t)n;
		}
		if (left > 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO,
			                     "cannot replay the partial download of '%s'", t->desc->digest);
	}
	if (t->writer) {
		t->req = (struct registry_blob_request){
			.repo = job->repo,
			.digest = t->desc->digest,
			.size = t->desc->size,
			.offset = content_writer_offset(t->writer),
			.on_data = task_on_data,
			.on_progress = task_on_progress,
			.userdata = t,
		};
		task_progress(t, PULL_LAYER_DOWNLOADING, t->req.offset);
	}
	return 0;
}

/* End of input for the unpacker (if it reads the pipe); wait for it. */
static void task_join(struct layer_task *t) {
	t->pipe_w = safe_close(t->pipe_w);
	if (t->thread_started) {
		pthread_join(t->thread, NULL);
		t->thread_started = false;
	}
	t->unpack_fd = safe_close(t->unpack_fd);
}

/* After the download (if any): verify the blob, wait for the unpacker,
 * check the diff_id and publish the snapshot. */
static int task_finish(struct layer_task *t, struct za_error **reterr) {
	int r = 0;

	if (t->writer) {
		if (t->req.result < 0) {
			content_writer_abort(t->writer, false);
			/* A transfer cancelled because the unpacker failed: its error says why. */
			if (!atomic_load(&t->unpack_failed)) {
				r = t->req.result;
				if (t->data_err) {
					if (reterr && !*reterr)
						*reterr = TAKE_PTR(t->data_err);
				} else if (t->req.error) {
					if (reterr && !*reterr)
						*reterr = TAKE_PTR(t->req.error);
				} else
					za_error_make(reterr, ZA_ERROR_PULL_FAILED, -r,
					              "download of layer '%s' failed: %m", t->desc->digest);
			}
		} else {
			task_progress(t, PULL_LAYER_VERIFYING, t->desc->size);
			r = content_writer_commit(t->writer, reterr);
			if (r >= 0)
				t->created_blob = true;
		}
		t->writer = NULL;
	}
	task_join(t);
	if (r < 0)
		return r;
	if (t->unpack_r < 0) {
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(t->unpack_err);
		return za_error_wrap(reterr, "layer '%s'", t->desc->digest);
	}
	if (!t->got_diff_id || !streq(t->got_diff_id, t->diff_id))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "layer '%s' unpacks to diff_id '%s', but the image config says '%s'",
		                     t->desc->digest, strna(t->got_diff_id), t->diff_id);
	if (fsync(t->tmp_fd) < 0 && errno != EINVAL)
		log_debug_errno(errno, "fsync of %s failed: %m", t->tmp_dir);
	if (rename(t->tmp_dir, t->snap_dir) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot publish snapshot '%s': %m",
			                     t->snap_dir);
		rm_rf(t->tmp_dir); /* someone else published it meanwhile */
	} else
		t->created_snapshot = true;
	free(t->tmp_dir);
	t->tmp_dir = NULL;
	t->done = true;
	crashpoint("pull.layer");
	task_progress(t, PULL_LAYER_DONE, t->desc->size);
	return 0;
}

static void task_cleanup(struct layer_task *t) {
	if (t->writer) {
		content_writer_abort(t->writer, false);
		t->writer = NULL;
	}
	task_join(t);
	t->tmp_fd = safe_close(t->tmp_fd);
	if (t->tmp_dir) {
		rm_rf(t->tmp_dir);
		free(t->tmp_dir);
		t->tmp_dir = NULL;
	}
	free(t->got_diff_id);
	t->got_diff_id = NULL;
	za_error_free(t->unpack_err);
	t->unpack_err = NULL;
	za_error_free(t->req.error);
	t->req.error = NULL;
	t->data_err = za_error_free(t->data_err);
}

static bool snapshot_exists(const char *dir) {
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fetch and unpack every task in `batch` that we are the creator of. */
static int run_batch(struct layers_job *job, struct layer_task **batch, size_t n, struct za_error **reterr) {
	_cleanup_free_ struct registry_blob_request *reqs = NULL;
	_cleanup_free_ struct layer_task **downloading = NULL;
	size_t n_req = 0;
	int r = 0;

	reqs = xnew(struct registry_blob_request, n + 1);
	downloading = xnew(struct layer_task *, n + 1);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct layer_task *t = batch[i];

		if (snapshot_exists(t->snap_dir)) {
			t->done = true;
			task_progress(t, PULL_LAYER_EXISTS, t->desc->size);
			continue;
		}
		r = task_start(t, reterr);
		if (r >= 0 && t->writer)
			downloading[n_req++] = t;
	}
	if (r >= 0 && n_req > 0) {
		for (size_t i = 0; i < n_req; i++)
			reqs[i] = downloading[i]->req;
		r = registry_fetch_blobs(job->client, reqs, n_req, reterr);
		for (size_t i = 0; i < n_req; i++)
			downloading[i]->req = reqs[i];
	}
	for (size_t i = 0; i < n && r >= 0; i++)
		if (!batch[i]->done)
			r = task_finish(batch[i], reterr);
	for (size_t i = 0; i < n; i++)
		task_cleanup(batch[i]);
	return r;
}

int layers_fetch_and_unpack(struct layers_job *job, struct store_image *img, struct za_error **reterr) {
	const struct oci_manifest *m = job->manifest;
	_cleanup_free_ struct layer_task *tasks = NULL;
	_cleanup_free_ struct layer_task **batch = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", job->root_dir),
	                    *snaps = xasprintf("%s/snapshots", job->root_dir);
	size_t n_batch = 0;
	char *parent = NULL;
	int r = 0;

	if (m->n_layers != job->config->n_diff_ids)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "manifest has %zu layers but the image config lists %zu diff_ids", m->n_layers,
		                     job->config->n_diff_ids);
	if ((r = mkdir_p(tmp, 0700)) < 0 || (r = mkdir_p(snaps, 0700)) < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot create '%s': %m", snaps);

	tasks = xnew(struct layer_task, m->n_layers + 1);
	batch = xnew(struct layer_task *, m->n_layers + 1);
	for (size_t i = 0; i < m->n_layers; i++) {
		struct layer_task *t = &tasks[i];
		enum layer_compression comp;

		*t = (struct layer_task){ .job = job,
			                  .idx = i,
			                  .desc = &m->layers[i],
			                  .diff_id = job->config->diff_ids[i],
			                  .tmp_fd = -1,
			                  .unpack_fd = -1,
			                  .pipe_w = -1 };
		if (r >= 0)
			r = layer_media_type_compression(t->desc->media_type, &comp, reterr);
		if (r >= 0 && !digest_is_sha256(t->desc->digest))
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTONOSUPPORT,
			                  "layer digest '%s' is not sha256; only sha256 content is supported",
			                  t->desc->digest);
		t->chain_id = digest_chain_id(parent, t->diff_id);
		parent = t->chain_id;
		t->snap_dir = snapshot_path(job->root_dir, t->chain_id);
		claim_hold(t->chain_id);
		claim_hold(t->desc->digest);
	}

	/* Round 1: the layers nobody else is creating. */
	for (size_t i = 0; r >= 0 && i < m->n_layers; i++)
		if ((tasks[i].busy = claim_busy(tasks[i].chain_id, false)))
			batch[n_batch++] = &tasks[i];
		else
			task_progress(&tasks[i], PULL_LAYER_WAITING, 0);
	if (r >= 0)
		r = run_batch(job, batch, n_batch, reterr);
	for (size_t i = 0; i < m->n_layers; i++)
		if (tasks[i].busy) {
			claim_unbusy(tasks[i].chain_id);
			tasks[i].busy = false;
		}

	/* Round 2: wait for the others' layers; do them ourselves if they failed. */
	n_batch = 0;
	for (size_t i = 0; r >= 0 && i < m->n_layers; i++)
		if (!tasks[i].done) {
			tasks[i].busy = claim_busy(tasks[i].chain_id, true);
			batch[n_batch++] = &tasks[i];
		}
	if (r >= 0 && n_batch)
		r = run_batch(job, batch, n_batch, reterr);
	for (size_t i = 0; i < m->n_layers; i++)
		if (tasks[i].busy)
			claim_unbusy(tasks[i].chain_id);

	if (r >= 0) {
		img->layers = xnew(struct store_layer, m->n_layers + 1);
		img->n_layers = m->n_layers;
		for (size_t i = 0; i < m->n_layers; i++) {
			img->layers[i].blob_digest = xstrdup(tasks[i].desc->digest);
			img->layers[i].diff_id = xstrdup(tasks[i].diff_id);
			img->layers[i].chain_id = xstrdup(tasks[i].chain_id);
			img->layers[i].media_type = xstrdup(tasks[i].desc->media_type);
			img->layers[i].size = tasks[i].desc->size;
		}
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		struct layer_task *t = &tasks[i];
		bool last_snap = claim_drop_last(t->chain_id), last_blob = claim_drop_last(t->desc->digest);

		/* A failed job takes back what it created, unless another pull uses it. */
		if (r < 0 && t->created_snapshot && last_snap)
			rm_rf(t->snap_dir);
		if (r < 0 && t->created_blob && last_blob)
			(void)content_remove(job->content, t->desc->digest);
		free(t->chain_id);
		free(t->snap_dir);
	}
	return r;
}
