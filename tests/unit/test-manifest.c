/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests, indexes, configs, platform selection, digests, chain ids and
 * the pull policy decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/pull.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char index_json[] = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":["
                                 "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":100,"
                                 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                                 "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":200,"
                                 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
                                 "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":300,"
                                 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}]}";

static void test_detect_kind(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *mt = NULL;
	enum manifest_kind k;
	const char schema1[] = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
	const char nomt[] = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
	const char odd[] = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example+json\"}";

	assert_int_equal(manifest_detect_kind(NULL, index_json, strlen(index_json), &k, &mt, NULL), 0);
	assert_int_equal(k, MANIFEST_KIND_INDEX);
	assert_string_equal(mt, MEDIA_TYPE_OCI_INDEX);
	free(mt);
	mt = NULL;
	assert_int_equal(
	        manifest_detect_kind(MEDIA_TYPE_DOCKER_MANIFEST "; charset=utf-8", nomt, strlen(nomt), &k, &mt, NULL),
	        0);
	assert_int_equal(k, MANIFEST_KIND_IMAGE);
	assert_string_equal(mt, MEDIA_TYPE_DOCKER_MANIFEST);
	assert_int_equal(manifest_detect_kind("application/json", schema1, strlen(schema1), &k, NULL, &err),
	                 -EPROTONOSUPPORT);
	assert_int_equal(err->kind, ZA_ERROR_PULL_FAILED);
	assert_non_null(strstr(err->message, "schema 1 manifests are not supported"));
	err = za_error_free(err);
	assert_int_equal(manifest_detect_kind(NULL, odd, strlen(odd), &k, NULL, &err), -EPROTONOSUPPORT);
	assert_string_equal(err->message, "unsupported manifest media type 'application/vnd.example+json'");
	err = za_error_free(err);
	assert_int_equal(manifest_detect_kind(NULL, "[1]", 3, &k, NULL, &err), -EBADMSG);
	assert_string_equal(err->message, "manifest is not a JSON object");
	err = za_error_free(err);
	assert_int_equal(manifest_detect_kind(NULL, "{", 1, &k, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err->message, "manifest is not valid JSON: line 1"));
}

static void test_index_select(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct oci_index idx = {};
	struct oci_platform p = {};
	const struct oci_descriptor *d;

	assert_int_equal(oci_index_parse(index_json, strlen(index_json), &idx, NULL), 0);
	assert_int_equal(idx.n_manifests, 3);

	assert_int_equal(oci_platform_parse("linux/amd64", &p, NULL), 0);
	assert_int_equal(oci_index_select(&idx, &p, &d, NULL), 0);
	assert_string_equal(d->digest, D1);
	oci_platform_release(&p);

	/* arm64 without variant matches v8 */
	assert_int_equal(oci_platform_parse("linux/arm64", &p, NULL), 0);
	assert_int_equal(oci_index_select(&idx, &p, &d, NULL), 0);
	assert_string_equal(d->digest, D2);
	oci_platform_release(&p);
	assert_int_equal(oci_platform_parse("linux/arm64/v8", &p, NULL), 0);
	assert_int_equal(oci_index_select(&idx, &p, &d, NULL), 0);
	assert_string_equal(d->digest, D2);
	oci_platform_release(&p);

	/* arm without variant means v7; the index has only v6: loose match */
	assert_int_equal(oci_platform_parse("linux/arm", &p, NULL), 0);
	assert_int_equal(oci_index_select(&idx, &p, &d, NULL), 0);
	assert_string_equal(d->digest, D3);
	oci_platform_release(&p);

	assert_int_equal(oci_platform_parse("linux/arm/v7", &p, NULL), 0);
	assert_int_equal(oci_index_select(&idx, &p, &d, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_WRONG_PLATFORM);
	assert_string_equal(err->message, "the index has no platform linux/arm/v7; available: linux/amd64, "
	                                  "linux/arm64/v8, linux/arm/v6 (choose one with --platform)");
	oci_platform_release(&p);
	oci_index_release(&idx);
}

static struct oci_index index_of(const char *platforms) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *list = xstrdup(platforms);
	struct oci_index idx = {};
	char *save = NULL;
	int n = 0;

	strbuf_addstr(&sb, "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":[");
	for (char *p = strtok_r(list, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		char *arch = strchr(p, '/');
		*arch++ = '\0';
		strbuf_addf(&sb,
		            "%s{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D1
		            "\",\"size\":1,\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"}}",
		            n++ ? "," : "", p, arch);
	}
	strbuf_addstr(&sb, "]}");
	assert_int_equal(oci_index_parse(sb.buf, sb.len, &idx, NULL), 0);
	return idx;
}

/* Images only another operating system runs go to a peer: route_to_peer,
 * naming the OS; another architecture of our OS stays wrong_platform. */
static void test_route_to_peer(void **state) {
	static const struct {
		const char *platforms, *want, *required_os, *message;
	} cases[] = {
		{ "windows/amd64", "linux/amd64", "windows",
		  "the image is for os 'windows', this node runs linux: route it to a node running windows" },
		{ "windows/amd64 windows/arm64 unknown/unknown", "linux/amd64", "windows",
		  "the image is for os 'windows', this node runs linux: route it to a node running windows" },
		{ "unknown/unknown darwin/arm64 windows/amd64", "linux/arm64", "darwin",
		  "the image is for os 'darwin' or 'windows', this node runs linux: route it to a node running "
		  "darwin" },
		/* our OS is there, for another architecture: wrong_platform */
		{ "windows/amd64 linux/arm64", "linux/amd64", NULL, NULL },
		/* an explicit request for another OS is not routed */
		{ "windows/amd64", "freebsd/amd64", NULL, NULL },
		/* nothing known about where it runs */
		{ "unknown/unknown", "linux/amd64", NULL, NULL },
		{ "win$dows/amd64", "linux/amd64", NULL, NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct oci_index idx = index_of(cases[i].platforms);
		struct za_error *err = NULL;
		struct oci_platform p = {};
		const struct oci_descriptor *d;

		assert_int_equal(oci_platform_parse(cases[i].want, &p, NULL), 0);
		assert_true(oci_index_select(&idx, &p, &d, &err) < 0);
		if (cases[i].required_os) {
			assert_int_equal(err->kind, ZA_ERROR_ROUTE_TO_PEER);
			assert_int_equal(err->code, ENOEXEC);
			assert_string_equal(err->required_os, cases[i].required_os);
			assert_string_equal(err->message, cases[i].message);
		} else {
			assert_int_equal(err->kind, ZA_ERROR_WRONG_PLATFORM);
			assert_null(err->required_os);
		}
		za_error_free(err);
		oci_platform_release(&p);
		oci_index_release(&idx);
	}
}

static void test_check_os(void **state) {
	struct za_error *err = NULL;
	struct oci_platform node = {}, other = {};

	oci_platform_default(&node);
	assert_string_equal(node.os, OCI_NODE_OS);
	assert_int_equal(oci_platform_check_os("linux", &node, &err), 0);
	assert_int_equal(oci_platform_check_os(NULL, &node, &err), 0);
	assert_int_equal(oci_platform_check_os("unknown", &node, &err), 0);
	/* WebAssembly modules run here too, on the wasm runtime */
	assert_int_equal(oci_platform_check_os("wasi", &node, &err), 0);
	assert_int_equal(oci_platform_check_os("wasip1", &node, &err), 0);
	assert_null(err);
	assert_int_equal(oci_platform_check_os("windows", &node, NULL), -ENOEXEC);
	assert_int_equal(oci_platform_check_os("windows", &node, &err), -ENOEXEC);
	assert_int_equal(err->kind, ZA_ERROR_ROUTE_TO_PEER);
	assert_string_equal(err->required_os, "windows");
	assert_string_equal(err->message,
	                    "the image is for os 'windows', this node runs linux: route it to a node running windows");
	err = za_error_free(err);
	/* asked for another OS on purpose (pull --platform): not ours to refuse */
	assert_int_equal(oci_platform_parse("windows/amd64", &other, NULL), 0);
	assert_int_equal(oci_platform_check_os("windows", &other, &err), 0);
	assert_null(err);
	oci_platform_release(&other);
	oci_platform_release(&node);
}

static void test_platform_parse(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct oci_platform p = {};
	_cleanup_free_ char *s = NULL;
	static const char *const bad[] = { "linux", "/amd64", "linux/", "linux/arm64/", "a/b/c/d", "linux//v8" };

	assert_int_equal(oci_platform_parse("linux/arm64/v8", &p, NULL), 0);
	s = oci_platform_to_string(&p);
	assert_string_equal(s, "linux/arm64/v8");
	oci_platform_release(&p);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(oci_platform_parse(bad[i], &p, &err), -EINVAL);
		assert_non_null(strstr(err->message, "expected os/arch[/variant]"));
		err = za_error_free(err);
	}
	oci_platform_default(&p);
	assert_string_equal(p.os, "linux");
	assert_non_null(p.architecture);
	oci_platform_release(&p);
}

static void test_manifest_and_config(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct oci_manifest m = {};
	struct oci_image_config c = {};
	const char manifest[] =
	        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\","
	        "\"config\":{\"mediaType\":\"" MEDIA_TYPE_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	        "\"layers\":[{\"mediaType\":\"" MEDIA_TYPE_DOCKER_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":9}]}";
	const char config[] =
	        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05Z\","
	        "\"config\":{\"Entrypoint\":[\"/bin/sh\"],\"Cmd\":null,\"Env\":[\"PATH=/bin\"],\"WorkingDir\":\"/w\","
	        "\"User\":\"1000:1000\",\"ExposedPorts\":{\"80/"
	        "tcp\":{}},\"Labels\":{\"a\":\"b\"},\"StopSignal\":\"SIGQUIT\"},"
	        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D3 "\"]}}";
	const char bad_layer[] =
	        "{\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"digest\":\"sha256:xyz\",\"size\":1,"
	        "\"mediaType\":\"m\"}]}";
	enum layer_compression comp;

	assert_int_equal(oci_manifest_parse(manifest, strlen(manifest), &m, NULL), 0);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.n_layers, 1);
	assert_int_equal(m.layers[0].size, 9);
	assert_int_equal(layer_media_type_compression(m.layers[0].media_type, &comp, NULL), 0);
	assert_int_equal(comp, LAYER_COMPRESSION_GZIP);
	oci_manifest_release(&m);

	assert_int_equal(oci_manifest_parse(bad_layer, strlen(bad_layer), &m, &err), -EBADMSG);
	assert_string_equal(err->message, "layer 0 has an invalid digest 'sha256:xyz'");
	err = za_error_free(err);

	assert_int_equal(oci_image_config_parse(config, strlen(config), &c, NULL), 0);
	assert_string_equal(c.entrypoint[0], "/bin/sh");
	assert_null(c.cmd);
	assert_string_equal(c.env[0], "PATH=/bin");
	assert_string_equal(c.working_dir, "/w");
	assert_string_equal(c.user, "1000:1000");
	assert_string_equal(c.exposed_ports[0], "80/tcp");
	assert_string_equal(c.labels[0].value, "b");
	assert_string_equal(c.stop_signal, "SIGQUIT");
	assert_int_equal(c.n_diff_ids, 1);
	oci_image_config_release(&c);

	assert_int_equal(layer_media_type_compression(MEDIA_TYPE_OCI_LAYER_ZSTD, &comp, NULL), 0);
	assert_int_equal(comp, LAYER_COMPRESSION_ZSTD);
	/* a module layer: one file, uncompressed */
	assert_int_equal(layer_media_type_compression("application/wasm", &comp, NULL), 0);
	assert_int_equal(comp, LAYER_COMPRESSION_NONE);
	assert_true(layer_media_type_is_wasm("application/vnd.wasm.content.layer.v1+wasm"));
	assert_false(layer_media_type_is_wasm(MEDIA_TYPE_OCI_LAYER));
	assert_int_equal(layer_media_type_compression("application/x-foreign", &comp, &err), -EPROTONOSUPPORT);
	assert_string_equal(err->message, "unsupported layer media type 'application/x-foreign'");
}

static void test_digests(void **state) {
	_cleanup_free_ char *d = digest_sha256_buf("", 0), *abc = digest_sha256_buf("abc", 3), *chain = NULL;

	assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(abc, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(digest_is_sha256(d));
	assert_false(digest_is_sha256("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(digest_is_sha256("sha256:abc"));
	assert_false(digest_valid("md5:d41d8cd98f00b204e9800998ecf8427e"));
	assert_string_equal(digest_hex(d), d + 7);
	/* chain id of one layer is its diff id; of two, sha256("c1 d2") */
	chain = digest_chain_id(NULL, D1);
	assert_string_equal(chain, D1);
	free(chain);
	chain = digest_chain_id(D1, D2);
	{
		_cleanup_free_ char *want = digest_sha256_buf(D1 " " D2, strlen(D1 " " D2));
		assert_string_equal(chain, want);
	}
}

static void test_pull_policy(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	bool pull;

	assert_int_equal(pull_policy_decide(SPEC_PULL_ALWAYS, "x", D1, D1, &pull, NULL), 0);
	assert_true(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_IF_NOT_PRESENT, "x", D1, NULL, &pull, NULL), 0);
	assert_false(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_IF_NOT_PRESENT, "x", NULL, NULL, &pull, NULL), 0);
	assert_true(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEWER, "x", D1, D1, &pull, NULL), 0);
	assert_false(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEWER, "x", D1, D2, &pull, NULL), 0);
	assert_true(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEWER, "x", D1, NULL, &pull, NULL), 0); /* registry unreachable */
	assert_false(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEWER, "x", NULL, NULL, &pull, NULL), 0);
	assert_true(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEVER, "x", D1, NULL, &pull, NULL), 0);
	assert_false(pull);
	assert_int_equal(pull_policy_decide(SPEC_PULL_NEVER, "busybox:1", NULL, NULL, &pull, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message,
	                    "image 'busybox:1' is not present and pull_policy is 'never'; load or pull it first");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_kind),    cmocka_unit_test(test_index_select),
		cmocka_unit_test(test_platform_parse), cmocka_unit_test(test_manifest_and_config),
		cmocka_unit_test(test_digests),        cmocka_unit_test(test_pull_policy),
		cmocka_unit_test(test_route_to_peer),  cmocka_unit_test(test_check_os),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
