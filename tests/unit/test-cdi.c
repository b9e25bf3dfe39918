/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "runtime/cdi.h"

/* /dev/null stands in for a GPU node: the host's type/major/minor are
 * looked up when the spec leaves them out. */
static const char nvidia_json[] =
        "{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\",\n"
        " \"devices\": [\n"
        "  {\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\", \"hostPath\": "
        "\"/dev/null\"}]}},\n"
        "  {\"name\": \"1\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia1\", \"type\": \"c\", "
        "\"major\": 195, \"minor\": 1, \"permissions\": \"rw\", \"fileMode\": 438}]}},\n"
        "  {\"name\": \"GPU-1234\", \"containerEdits\": {\"env\": [\"ALIAS=1\"]}},\n"
        "  {\"name\": \"all\", \"containerEdits\": {}}\n"
        " ],\n"
        " \"containerEdits\": {\n"
        "  \"env\": [\"NVIDIA_VISIBLE_DEVICES=void\", \"FOO=from-cdi\"],\n"
        "  \"deviceNodes\": [{\"path\": \"/dev/nvidiactl\", \"hostPath\": \"/dev/zero\"}],\n"
        "  \"mounts\": [{\"hostPath\": \"/usr/lib/libcuda.so.1\", \"containerPath\": \"/usr/lib/libcuda.so.1\", "
        "\"options\": [\"ro\", \"nosuid\", \"nodev\", \"bind\"]}],\n"
        "  \"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-ctk\", \"args\": "
        "[\"nvidia-ctk\", \"hook\", \"update-ldcache\"]}, {\"hookName\": \"bogus\", \"path\": \"/x\"}],\n"
        "  \"additionalGids\": [44]\n"
        " }\n"
        "}\n";

/* nvidia-ctk writes YAML; a later directory overrides device "0" */
static const char nvidia_yaml[] = "cdiVersion: 0.6.0\n"
                                  "kind: nvidia.com/gpu\n"
                                  "devices:\n"
                                  "  - name: \"0\"\n"
                                  "    containerEdits:\n"
                                  "      env: [\"FROM_YAML=yes\"]\n"
                                  "      deviceNodes:\n"
                                  "        - path: /dev/nvidia0\n"
                                  "          type: c\n"
                                  "          major: 195\n"
                                  "          minor: 0\n";

struct fixture {
	char *dir, *etc, *run, *mps;
	char *dirs[3];
	json_t *config;
};

static void write_at(const char *dir, const char *name, const char *text) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);
	char tmpl[] = "/tmp/test-cdi-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->etc = xasprintf("%s/etc-cdi", f->dir);
	f->run = xasprintf("%s/run-cdi", f->dir);
	f->mps = xasprintf("%s/nvidia-mps", f->dir);
	assert_int_equal(mkdir(f->etc, 0755), 0);
	assert_int_equal(mkdir(f->run, 0755), 0);
	f->dirs[0] = f->etc;
	f->dirs[1] = f->run;
	f->config =
	        json_pack("{s:{s:[s,s], s:{s:i, s:i}}, s:[{s:s}, {s:s}], s:{s:[{s:s}, {s:s}]}}", "process", "env",
	                  "PATH=/bin", "FOO=original", "user", "uid", 0, "gid", 0, "mounts", "destination", "/dev/shm",
	                  "destination", "/dev/mqueue", "linux", "namespaces", "type", "pid", "type", "ipc");
	assert_non_null(f->config);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	json_decref(f->config);
	rm_rf(f->dir);
	free(f->dir);
	free(f->etc);
	free(f->run);
	free(f->mps);
	free(f);
	return 0;
}

static bool env_has(json_t *config, const char *kv) {
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(config, "process"), "env"), i,
	                   v) if (streq(json_string_value(v), kv)) return true;
	return false;
}

static json_t *device(json_t *config, const char *path) {
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(config, "linux"), "devices"), i,
	                   v) if (streq(json_string_value(json_object_get(v, "path")), path)) return v;
	return NULL;
}

static void test_gpu_from_json(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **devs = NULL;
	struct spec_gpu gpu = { .count = 2, .vendor = SPEC_GPU_VENDOR_NVIDIA };
	json_t *d, *rules, *hooks, *m, *r;
	size_t i;

	write_at(f->etc, "nvidia.json", nvidia_json);
	assert_int_equal(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, &devs, NULL), 0);
	assert_int_equal(strv_length(devs), 2);
	assert_string_equal(devs[0], "nvidia.com/gpu=0");
	assert_string_equal(devs[1], "nvidia.com/gpu=1");

	/* env replaced by key, added otherwise; spec-wide edits once */
	assert_true(env_has(f->config, "FOO=from-cdi"));
	assert_false(env_has(f->config, "FOO=original"));
	assert_true(env_has(f->config, "NVIDIA_VISIBLE_DEVICES=void"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(f->config, "process"), "env")), 3);
	assert_false(env_has(f->config, "ALIAS=1")); /* the UUID alias is not a second GPU */

	/* device nodes: the host's numbers when left out, the spec's otherwise */
	d = device(f->config, "/dev/nvidia0");
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "c");
	assert_int_equal(json_integer_value(json_object_get(d, "major")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "minor")), 3);
	d = device(f->config, "/dev/nvidia1");
	assert_int_equal(json_integer_value(json_object_get(d, "major")), 195);
	assert_int_equal(json_integer_value(json_object_get(d, "fileMode")), 438);
	d = device(f->config, "/dev/nvidiactl");
	assert_int_equal(json_integer_value(json_object_get(d, "minor")), 5);
	rules = json_object_get(json_object_get(json_object_get(f->config, "linux"), "resources"), "devices");
	assert_int_equal(json_array_size(rules), 3);
	json_array_foreach(rules, i, r) {
		assert_true(json_is_true(json_object_get(r, "allow")));
		if (json_integer_value(json_object_get(r, "major")) == 195)
			assert_string_equal(json_string_value(json_object_get(r, "access")), "rw");
		else
			assert_string_equal(json_string_value(json_object_get(r, "access")), "rwm");
	}

	/* mounts appended, hooks by name, unknown hooks dropped, gids added */
	m = json_array_get(json_object_get(f->config, "mounts"), 2);
	assert_string_equal(json_string_value(json_object_get(m, "destination")), "/usr/lib/libcuda.so.1");
	assert_string_equal(json_string_value(json_object_get(m, "type")), "bind");
	assert_int_equal(json_array_size(json_object_get(m, "options")), 4);
	hooks = json_object_get(f->config, "hooks");
	assert_int_equal(json_object_size(hooks), 1);
	assert_int_equal(json_array_size(json_object_get(hooks, "createContainer")), 1);
	assert_int_equal(json_integer_value(json_array_get(
	                         json_object_get(json_object_get(json_object_get(f->config, "process"), "user"),
	                                         "additionalGids"),
	                         0)),
	                 44);
	/* no MPS: the IPC namespace stays */
	assert_int_equal(json_array_size(json_object_get(json_object_get(f->config, "linux"), "namespaces")), 2);
}

static void test_yaml_later_dir_wins(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **devs = NULL;
	struct spec_gpu gpu = { .count = 1, .vendor = SPEC_GPU_VENDOR_NVIDIA };
	json_t *d;

	write_at(f->etc, "nvidia.json", nvidia_json);
	write_at(f->run, "nvidia.yaml", nvidia_yaml);
	assert_int_equal(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, &devs, NULL), 0);
	assert_true(env_has(f->config, "FROM_YAML=yes"));
	d = device(f->config, "/dev/nvidia0");
	assert_int_equal(json_integer_value(json_object_get(d, "major")), 195);
	/* the YAML spec has no spec-wide edits */
	assert_false(env_has(f->config, "NVIDIA_VISIBLE_DEVICES=void"));
}

static void test_chosen_names(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **devs = NULL;
	struct spec_gpu gpu = { .count = 1, .vendor = SPEC_GPU_VENDOR_NVIDIA };
	char *names[] = { "1", NULL };

	write_at(f->etc, "nvidia.json", nvidia_json);
	assert_int_equal(cdi_apply_gpu(f->config, &gpu, names, f->dirs, &devs, NULL), 0);
	assert_string_equal(devs[0], "nvidia.com/gpu=1");
	assert_non_null(device(f->config, "/dev/nvidia1"));
	assert_null(device(f->config, "/dev/nvidia0"));
}

static void test_unavailable(void **state) {
	struct fixture *f = *state;
	struct spec_gpu gpu = { .count = 1, .vendor = SPEC_GPU_VENDOR_NVIDIA };
	_cleanup_za_error_ struct za_error *err = NULL, *err2 = NULL, *err3 = NULL, *err4 = NULL;
	_cleanup_free_ char *msg = NULL;
	char *missing[] = { "nvidia.com/gpu=7", NULL };

	/* no spec at all */
	assert_true(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_GPU_UNAVAILABLE);
	msg = xasprintf("1 'nvidia.com/gpu' requested but no CDI spec in %s or %s defines one: generate one with "
	                "'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml'",
	                f->etc, f->run);
	assert_string_equal(err->message, msg);

	/* more than the specs define; an invalid file is named */
	write_at(f->etc, "nvidia.json", nvidia_json);
	write_at(f->etc, "broken.json", "{ not json");
	gpu.count = 3;
	assert_true(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, &err2) < 0);
	assert_int_equal(err2->kind, ZA_ERROR_GPU_UNAVAILABLE);
	assert_non_null(strstr(err2->message, "3 'nvidia.com/gpu' requested but the CDI specs in"));
	assert_non_null(strstr(err2->message, "define only 2"));
	assert_non_null(strstr(err2->message, "broken.json"));

	/* another vendor */
	gpu.count = 1;
	gpu.vendor = SPEC_GPU_VENDOR_AMD;
	assert_true(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, &err3) < 0);
	assert_int_equal(err3->kind, ZA_ERROR_GPU_UNAVAILABLE);
	assert_non_null(strstr(err3->message, "'amd.com/gpu'"));

	assert_true(cdi_inject(f->config, missing, f->dirs, &err4) < 0);
	assert_int_equal(err4->kind, ZA_ERROR_GPU_UNAVAILABLE);
	assert_non_null(strstr(err4->message, "CDI device 'nvidia.com/gpu=7' is not defined by any spec in"));
}

static void test_mps(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *err = NULL, *err2 = NULL;
	_cleanup_free_ char *msg = NULL;
	struct spec_gpu gpu = {
		.count = 1, .vendor = SPEC_GPU_VENDOR_NVIDIA, .sharing = SPEC_GPU_SHARING_MPS, .mps_pipe_dir = f->mps
	};
	json_t *m, *ns;

	write_at(f->etc, "nvidia.json", nvidia_json);
	assert_true(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_GPU_SHARING_UNAVAILABLE);
	msg = xasprintf("gpu sharing 'mps' needs the MPS pipe directory '%s', which does not exist: start the MPS "
	                "control daemon (nvidia-cuda-mps-control -d) or set resources.gpu.mps_pipe_dir",
	                f->mps);
	assert_string_equal(err->message, msg);

	gpu.vendor = SPEC_GPU_VENDOR_INTEL;
	assert_true(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, &err2) < 0);
	assert_int_equal(err2->kind, ZA_ERROR_GPU_UNAVAILABLE); /* no intel spec: that comes first */

	/* with the pipe directory: bound, announced, host IPC */
	json_decref(f->config);
	f->config = json_pack("{s:{s:[]}, s:[{s:s}], s:{s:[{s:s}, {s:s}]}}", "process", "env", "mounts", "destination",
	                      "/dev/shm", "linux", "namespaces", "type", "pid", "type", "ipc");
	gpu.vendor = SPEC_GPU_VENDOR_NVIDIA;
	assert_int_equal(mkdir(f->mps, 0755), 0);
	assert_int_equal(cdi_apply_gpu(f->config, &gpu, NULL, f->dirs, NULL, NULL), 0);
	msg = (free(msg), xasprintf("CUDA_MPS_PIPE_DIRECTORY=%s", f->mps));
	assert_true(env_has(f->config, msg));
	m = json_array_get(json_object_get(f->config, "mounts"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "bind");
	assert_string_equal(json_string_value(json_object_get(m, "source")), "/dev/shm");
	m = json_array_get(json_object_get(f->config, "mounts"), 2);
	assert_string_equal(json_string_value(json_object_get(m, "source")), f->mps);
	ns = json_object_get(json_object_get(f->config, "linux"), "namespaces");
	assert_int_equal(json_array_size(ns), 1);
}

static void test_kinds(void **state) {
	assert_string_equal(cdi_gpu_kind(SPEC_GPU_VENDOR_NVIDIA), "nvidia.com/gpu");
	assert_string_equal(cdi_gpu_kind(SPEC_GPU_VENDOR_AMD), "amd.com/gpu");
	assert_string_equal(cdi_gpu_kind(SPEC_GPU_VENDOR_INTEL), "intel.com/gpu");
	assert_null(cdi_gpu_kind(_SPEC_GPU_VENDOR_INVALID));
}

static void test_no_gpu(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **devs = NULL;
	struct spec_gpu gpu = {};
	_cleanup_free_ char *before = json_dumps(f->config, JSON_SORT_KEYS), *after = NULL;

	assert_int_equal(cdi_apply_gpu(f->config, &gpu, NULL, NULL, &devs, NULL), 0);
	assert_int_equal(strv_length(devs), 0);
	after = json_dumps(f->config, JSON_SORT_KEYS);
	assert_string_equal(before, after);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gpu_from_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yaml_later_dir_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chosen_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mps, setup, teardown),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test_setup_teardown(test_no_gpu, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
