/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "image/reference.h"
#include "basic/banned.h"

#define H64  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H128 H64 H64

#define TAG_EXPECTED  "(expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
#define PATH_EXPECTED "(expected lowercase letters and digits separated by '.', '_', '__' or '-')"

static char *repeat(char c, size_t n) {
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void assert_streq_or_null(const char *input, const char *what, const char *got, const char *want) {
	if (!want && !got)
		return;
	if (!want || !got || !streq(want, got)) {
		print_error("input '%s': %s is '%s', expected '%s'\n", input, what, strna(got), strna(want));
		fail();
	}
}

/* Registry references: input -> normalised string -> familiar form, and the
 * parts. */
static const struct norm_case {
	const char *input;
	const char *string;
	const char *familiar;
	const char *domain;
	const char *path;
	const char *tag;
	const char *digest;
} norm_cases[] = {
	{ "busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest",
	  NULL },
	{ "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io", "library/busybox", "1.36",
	  NULL },
	{ "library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox",
	  "latest", NULL },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox",
	  "latest", NULL },
	{ "docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
	  "library/busybox", "latest", NULL },
	{ "index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
	  "library/busybox", "latest", NULL },
	{ "index.docker.io/busybox:musl", "docker.io/library/busybox:musl", "busybox:musl", "docker.io",
	  "library/busybox", "musl", NULL },
	{ "myorg/app:1", "docker.io/myorg/app:1", "myorg/app:1", "docker.io", "myorg/app", "1", NULL },
	{ "docker.io/myorg/app", "docker.io/myorg/app:latest", "myorg/app:latest", "docker.io", "myorg/app", "latest",
	  NULL },
	{ "ghcr.io/o/r@sha256:" H64, "ghcr.io/o/r@sha256:" H64, "ghcr.io/o/r@sha256:" H64, "ghcr.io", "o/r", NULL,
	  "sha256:" H64 },
	{ "ghcr.io/o/r:tag@sha512:" H128, "ghcr.io/o/r:tag@sha512:" H128, "ghcr.io/o/r:tag@sha512:" H128, "ghcr.io",
	  "o/r", "tag", "sha512:" H128 },
	{ "ubuntu:22.04@sha256:" H64, "docker.io/library/ubuntu:22.04@sha256:" H64, "ubuntu:22.04@sha256:" H64,
	  "docker.io", "library/ubuntu", "22.04", "sha256:" H64 },
	{ "ubuntu@sha256:" H64, "docker.io/library/ubuntu@sha256:" H64, "ubuntu@sha256:" H64, "docker.io",
	  "library/ubuntu", NULL, "sha256:" H64 },
	{ "127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", NULL },
	{ "localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost", "app", "latest", NULL },
	{ "localhost:5000/a/b/c:v1.2", "localhost:5000/a/b/c:v1.2", "localhost:5000/a/b/c:v1.2", "localhost:5000",
	  "a/b/c", "v1.2", NULL },
	{ "[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest", "[::1]:5000", "app", "latest", NULL },
	{ "[::1]/app", "[::1]/app:latest", "[::1]/app:latest", "[::1]", "app", "latest", NULL },
	{ "[2001:db8::1]:443/ns/app:1", "[2001:db8::1]:443/ns/app:1", "[2001:db8::1]:443/ns/app:1", "[2001:db8::1]:443",
	  "ns/app", "1", NULL },
	{ "Foo.Example.com/app", "Foo.Example.com/app:latest", "Foo.Example.com/app:latest", "Foo.Example.com", "app",
	  "latest", NULL },
	{ "a_b/c__d/e--f", "docker.io/a_b/c__d/e--f:latest", "a_b/c__d/e--f:latest", "docker.io", "a_b/c__d/e--f",
	  "latest", NULL },
	{ "a-----b/c.d", "docker.io/a-----b/c.d:latest", "a-----b/c.d:latest", "docker.io", "a-----b/c.d", "latest",
	  NULL },
	{ "library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", "docker.io", "library/a/b", "latest",
	  NULL },
	{ "quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter:v1.7.0",
	  "quay.io/prometheus/node-exporter:v1.7.0", "quay.io", "prometheus/node-exporter", "v1.7.0", NULL },
	{ "registry.example.com:443/team/app:2024.01.01-rc1", "registry.example.com:443/team/app:2024.01.01-rc1",
	  "registry.example.com:443/team/app:2024.01.01-rc1", "registry.example.com:443", "team/app", "2024.01.01-rc1",
	  NULL },
	{ "example.com/app", "example.com/app:latest", "example.com/app:latest", "example.com", "app", "latest", NULL },
	{ "my-registry:5000/app", "my-registry:5000/app:latest", "my-registry:5000/app:latest", "my-registry:5000",
	  "app", "latest", NULL },
	{ "xn--bcher-kva.example/app", "xn--bcher-kva.example/app:latest", "xn--bcher-kva.example/app:latest",
	  "xn--bcher-kva.example", "app", "latest", NULL },
	{ "busybox:Latest_TAG-1.2", "docker.io/library/busybox:Latest_TAG-1.2", "busybox:Latest_TAG-1.2", "docker.io",
	  "library/busybox", "Latest_TAG-1.2", NULL },
	{ "busybox:_x", "docker.io/library/busybox:_x", "busybox:_x", "docker.io", "library/busybox", "_x", NULL },
	{ "0/1", "docker.io/0/1:latest", "0/1:latest", "docker.io", "0/1", "latest", NULL },
	/* No slash: Docker never reads a lone first component as a registry. */
	{ "a.b", "docker.io/library/a.b:latest", "a.b:latest", "docker.io", "library/a.b", "latest", NULL },
	{ "localhost", "docker.io/library/localhost:latest", "localhost:latest", "docker.io", "library/localhost",
	  "latest", NULL },
	{ "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io", "library/localhost",
	  "5000", NULL },
	/* The short form keeps what it would otherwise lose on re-parse. */
	{ "docker.io/a.b/c", "docker.io/a.b/c:latest", "docker.io/a.b/c:latest", "docker.io", "a.b/c", "latest", NULL },
	{ "docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io/localhost/x:latest", "docker.io",
	  "localhost/x", "latest", NULL },
	{ "library/oci-layout:1", "docker.io/library/oci-layout:1", "library/oci-layout:1", "docker.io",
	  "library/oci-layout", "1", NULL },
	{ "library/docker:1", "docker.io/library/docker:1", "docker:1", "docker.io", "library/docker", "1", NULL },
	/* Uppercase only in a registry name, which is a host name. */
	{ "LOCALHOST.localdomain:5000/x", "LOCALHOST.localdomain:5000/x:latest", "LOCALHOST.localdomain:5000/x:latest",
	  "LOCALHOST.localdomain:5000", "x", "latest", NULL },
	/* An explicit transport prefix. */
	{ "docker://busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox",
	  "latest", NULL },
	{ "docker://ghcr.io/o/r:1", "ghcr.io/o/r:1", "ghcr.io/o/r:1", "ghcr.io", "o/r", "1", NULL },
	/* "docker" is an image name, "docker:" without "//" a tag. */
	{ "docker:dind", "docker.io/library/docker:dind", "docker:dind", "docker.io", "library/docker", "dind", NULL },
};

static void test_normalise(void **state) {
	for (size_t i = 0; i < ELEMENTSOF(norm_cases); i++) {
		const struct norm_case *c = &norm_cases[i];
		_cleanup_(image_reference_release) struct image_reference r = { .transport = IMAGE_TRANSPORT_REGISTRY };
		_cleanup_za_error_ struct za_error *e = NULL;
		_cleanup_free_ char *str = NULL, *fam = NULL, *repo = NULL, *want_repo = NULL;

		if (image_reference_parse(c->input, &r, &e) < 0) {
			print_error("input '%s': %s\n", c->input, e ? e->message : "(no error)");
			fail();
		}
		assert_null(e);
		assert_int_equal(r.transport, IMAGE_TRANSPORT_REGISTRY);
		assert_null(r.local_path);
		str = image_reference_to_string(&r);
		fam = image_reference_familiar(&r);
		repo = image_reference_repository(&r);
		want_repo = xasprintf("%s/%s", c->domain, c->path);
		assert_streq_or_null(c->input, "string", str, c->string);
		assert_streq_or_null(c->input, "familiar", fam, c->familiar);
		assert_streq_or_null(c->input, "repository", repo, want_repo);
		assert_streq_or_null(c->input, "domain", r.domain, c->domain);
		assert_streq_or_null(c->input, "path", r.path, c->path);
		assert_streq_or_null(c->input, "tag", r.tag, c->tag);
		assert_streq_or_null(c->input, "digest", r.digest, c->digest);

		/* Both printed forms name the same image. */
		for (int k = 0; k < 2; k++) {
			_cleanup_(image_reference_release) struct image_reference again = { 0 };
			_cleanup_free_ char *again_str = NULL;

			assert_int_equal(image_reference_parse(k ? fam : str, &again, NULL), 0);
			again_str = image_reference_to_string(&again);
			assert_streq_or_null(c->input, "re-parsed string", again_str, c->string);
		}
	}
}

/* Local transports keep the path as given. */
static const struct local_case {
	const char *input;
	enum image_transport transport;
	const char *local_path;
	const char *tag;
	const char *string;
} local_cases[] = {
	{ "oci-layout:/path", IMAGE_TRANSPORT_OCI_LAYOUT, "/path", NULL, "oci-layout:/path" },
	{ "oci-layout:/path:tag", IMAGE_TRANSPORT_OCI_LAYOUT, "/path", "tag", "oci-layout:/path:tag" },
	{ "oci-layout:./rel/dir:v1.0", IMAGE_TRANSPORT_OCI_LAYOUT, "./rel/dir", "v1.0", "oci-layout:./rel/dir:v1.0" },
	{ "oci-layout:/a:b/c", IMAGE_TRANSPORT_OCI_LAYOUT, "/a:b/c", NULL, "oci-layout:/a:b/c" },
	{ "oci-layout:/x::t", IMAGE_TRANSPORT_OCI_LAYOUT, "/x:", "t", "oci-layout:/x::t" },
	{ "oci-layout:/with space/dir", IMAGE_TRANSPORT_OCI_LAYOUT, "/with space/dir", NULL,
	  "oci-layout:/with space/dir" },
	{ "oci-layout:/Upper/Case:Tag", IMAGE_TRANSPORT_OCI_LAYOUT, "/Upper/Case", "Tag",
	  "oci-layout:/Upper/Case:Tag" },
	{ "oci-archive:img.tar", IMAGE_TRANSPORT_OCI_ARCHIVE, "img.tar", NULL, "oci-archive:img.tar" },
	{ "oci-archive:/tmp/img.tar:1.0", IMAGE_TRANSPORT_OCI_ARCHIVE, "/tmp/img.tar", "1.0",
	  "oci-archive:/tmp/img.tar:1.0" },
	{ "docker-archive:/tmp/x.tar", IMAGE_TRANSPORT_DOCKER_ARCHIVE, "/tmp/x.tar", NULL,
	  "docker-archive:/tmp/x.tar" },
	{ "docker-archive:/tmp/x.tar:foo", IMAGE_TRANSPORT_DOCKER_ARCHIVE, "/tmp/x.tar:foo", NULL,
	  "docker-archive:/tmp/x.tar:foo" },
	{ "docker-archive::", IMAGE_TRANSPORT_DOCKER_ARCHIVE, ":", NULL, "docker-archive::" },
};

static void test_local(void **state) {
	for (size_t i = 0; i < ELEMENTSOF(local_cases); i++) {
		const struct local_case *c = &local_cases[i];
		_cleanup_(image_reference_release) struct image_reference r = { .transport = IMAGE_TRANSPORT_REGISTRY };
		_cleanup_(image_reference_release) struct image_reference again = { 0 };
		_cleanup_za_error_ struct za_error *e = NULL;
		_cleanup_free_ char *str = NULL, *fam = NULL, *repo = NULL, *want_repo = NULL, *again_str = NULL;

		if (image_reference_parse(c->input, &r, &e) < 0) {
			print_error("input '%s': %s\n", c->input, e ? e->message : "(no error)");
			fail();
		}
		assert_int_equal(r.transport, c->transport);
		assert_null(r.domain);
		assert_null(r.path);
		assert_null(r.digest);
		assert_streq_or_null(c->input, "local_path", r.local_path, c->local_path);
		assert_streq_or_null(c->input, "tag", r.tag, c->tag);
		str = image_reference_to_string(&r);
		fam = image_reference_familiar(&r);
		repo = image_reference_repository(&r);
		want_repo = xasprintf("%s:%s", image_transport_to_string(c->transport), c->local_path);
		assert_streq_or_null(c->input, "string", str, c->string);
		assert_streq_or_null(c->input, "familiar", fam, c->string);
		assert_streq_or_null(c->input, "repository", repo, want_repo);

		assert_int_equal(image_reference_parse(str, &again, NULL), 0);
		again_str = image_reference_to_string(&again);
		assert_streq_or_null(c->input, "re-parsed string", again_str, c->string);
	}
}

/* Rejections, with the exact message a user reads. */
static const struct reject_case {
	const char *input;
	const char *message;
} reject_cases[] = {
	{ "", "invalid image reference '': reference is empty" },
	{ "Busybox", "invalid image reference 'Busybox': repository name 'Busybox' must be lowercase" },
	{ "UPPER/case", "invalid image reference 'UPPER/case': repository name 'UPPER/case' must be lowercase" },
	{ "ghcr.io/Org/app", "invalid image reference 'ghcr.io/Org/app': repository name 'Org/app' must be lowercase" },
	{ "busybox:", "invalid image reference 'busybox:': tag is empty " TAG_EXPECTED },
	{ "busybox:-tag", "invalid image reference 'busybox:-tag': tag '-tag' is invalid " TAG_EXPECTED },
	{ "busybox:.tag", "invalid image reference 'busybox:.tag': tag '.tag' is invalid " TAG_EXPECTED },
	{ "busybox:ta+g", "invalid image reference 'busybox:ta+g': tag 'ta+g' is invalid " TAG_EXPECTED },
	{ "busybox@sha256:abc", "invalid image reference 'busybox@sha256:abc': digest 'sha256:abc' is invalid "
	                        "(expected sha256:<64 lowercase hex digits>)" },
	{ "busybox@sha512:" H64, "invalid image reference 'busybox@sha512:" H64 "': digest 'sha512:" H64
	                         "' is invalid (expected sha512:<128 lowercase hex digits>)" },
	{ "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "invalid image reference 'busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef': "
	  "digest 'sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef' is invalid (expected "
	  "sha256:<64 lowercase hex digits>)" },
	{ "busybox@md5:" H64, "invalid image reference 'busybox@md5:" H64 "': digest 'md5:" H64
	                      "' uses unsupported algorithm 'md5' (expected sha256 or sha512)" },
	{ "busybox@" H64, "invalid image reference 'busybox@" H64 "': digest '" H64
	                  "' is invalid (expected sha256:<64 lowercase hex digits>)" },
	{ "busybox@",
	  "invalid image reference 'busybox@': digest is empty (expected sha256:<64 lowercase hex digits>)" },
	{ "busybox@sha256:" H64 "@x", "invalid image reference 'busybox@sha256:" H64 "@x': digest 'sha256:" H64
	                              "@x' is invalid (expected sha256:<64 lowercase hex digits>)" },
	{ ":tag", "invalid image reference ':tag': repository name is empty" },
	{ "@sha256:" H64, "invalid image reference '@sha256:" H64 "': repository name is empty" },
	{ "docker://", "invalid image reference 'docker://': repository name is empty" },
	{ "a//b", "invalid image reference 'a//b': repository name 'a//b' has an empty path component" },
	{ "a/", "invalid image reference 'a/': repository name 'a/' has an empty path component" },
	{ "/a", "invalid image reference '/a': repository name '/a' has an empty path component" },
	{ "example.com/",
	  "invalid image reference 'example.com/': repository name is empty after registry 'example.com'" },
	{ "a..b", "invalid image reference 'a..b': path component 'a..b' is invalid " PATH_EXPECTED },
	{ "a/-b", "invalid image reference 'a/-b': path component '-b' is invalid " PATH_EXPECTED },
	{ "a___b", "invalid image reference 'a___b': path component 'a___b' is invalid " PATH_EXPECTED },
	{ "a_/b", "invalid image reference 'a_/b': path component 'a_' is invalid " PATH_EXPECTED },
	{ "bu sybox", "invalid image reference 'bu sybox': path component 'bu sybox' is invalid " PATH_EXPECTED },
	{ "a:b:c", "invalid image reference 'a:b:c': path component 'a:b' is invalid " PATH_EXPECTED },
	{ "ba\xff"
	  "d",
	  "invalid image reference 'ba\\xffd': path component 'ba\\xffd' is invalid " PATH_EXPECTED },
	{ "busy'box", "invalid image reference 'busy\\'box': path component 'busy\\'box' is invalid " PATH_EXPECTED },
	{ "host:abc/app", "invalid image reference 'host:abc/app': invalid port in registry 'host:abc'" },
	{ "host:/app", "invalid image reference 'host:/app': invalid port in registry 'host:'" },
	{ "host:70000/app", "invalid image reference 'host:70000/app': invalid port in registry 'host:70000'" },
	{ "host:0/app", "invalid image reference 'host:0/app': invalid port in registry 'host:0'" },
	{ "[::1]:x/app", "invalid image reference '[::1]:x/app': invalid port in registry '[::1]:x'" },
	{ "foo.bar_baz/qux", "invalid image reference 'foo.bar_baz/qux': invalid host name 'foo.bar_baz' in registry "
	                     "'foo.bar_baz' (expected letters, digits and '-' in dot-separated labels)" },
	{ "-foo.com/app", "invalid image reference '-foo.com/app': invalid host name '-foo.com' in registry "
	                  "'-foo.com' (expected letters, digits and '-' in dot-separated labels)" },
	{ "foo..com/app", "invalid image reference 'foo..com/app': invalid host name 'foo..com' in registry "
	                  "'foo..com' (expected letters, digits and '-' in dot-separated labels)" },
	{ "[::1/app", "invalid image reference '[::1/app': IPv6 address in registry '[::1' lacks a closing ']'" },
	{ "[zz::1]:5000/app", "invalid image reference '[zz::1]:5000/app': invalid IPv6 address in registry "
	                      "'[zz::1]:5000'" },
	{ "[1::2::3]/app", "invalid image reference '[1::2::3]/app': invalid IPv6 address in registry '[1::2::3]'" },
	{ "[::1]x/app", "invalid image reference '[::1]x/app': registry '[::1]x' has junk after the IPv6 address "
	                "(expected ':PORT')" },
	{ H64, "invalid image reference '" H64 "': repository name cannot be a 64-character hexadecimal string (an "
	       "image ID)" },
	{ "docker://oci-layout:5000/app", "invalid image reference 'docker://oci-layout:5000/app': registry "
	                                  "'oci-layout:5000' cannot be told apart from a local transport" },
	{ "oci-archive:", "invalid image reference 'oci-archive:': oci-archive: reference needs a file path" },
	{ "oci-layout:", "invalid image reference 'oci-layout:': oci-layout: reference needs a directory path" },
	{ "oci-layout::tag",
	  "invalid image reference 'oci-layout::tag': oci-layout: reference needs a directory path" },
	{ "docker-archive:", "invalid image reference 'docker-archive:': docker-archive: reference needs a file path" },
	{ "oci-layout:/p:", "invalid image reference 'oci-layout:/p:': tag is empty " TAG_EXPECTED },
	{ "oci-archive:/p.tar:bad tag",
	  "invalid image reference 'oci-archive:/p.tar:bad tag': tag 'bad tag' is invalid " TAG_EXPECTED },
	{ " busybox", "invalid image reference ' busybox': reference has leading or trailing whitespace" },
	{ "busybox ", "invalid image reference 'busybox ': reference has leading or trailing whitespace" },
	{ "busybox\n", "invalid image reference 'busybox\\x0a': reference has leading or trailing whitespace" },
	{ "\tbusybox", "invalid image reference '\\x09busybox': reference has leading or trailing whitespace" },
	{ "busy\tbox",
	  "invalid image reference 'busy\\x09box': reference contains control character 0x09 at offset 4" },
	{ "oci-layout:/a\x7f", "invalid image reference 'oci-layout:/a\\x7f': reference contains control character "
	                       "0x7f at offset 13" },
};

static void check_reject(const char *input, const char *message) {
	struct image_reference r = {
		.transport = IMAGE_TRANSPORT_OCI_ARCHIVE,
		.domain = (char *)"untouched",
	};
	_cleanup_za_error_ struct za_error *e = NULL;
	int k = image_reference_parse(input, &r, &e);

	if (k >= 0) {
		_cleanup_free_ char *s = image_reference_to_string(&r);
		print_error("input '%s' was accepted as '%s'\n", input, s);
		fail();
	}
	assert_int_equal(k, -EINVAL);
	assert_non_null(e);
	assert_int_equal(e->kind, ZA_ERROR_INVALID_SPEC);
	assert_int_equal(e->code, EINVAL);
	assert_streq_or_null(input, "message", e->message, message);
	/* ret is set only on success. */
	assert_int_equal(r.transport, IMAGE_TRANSPORT_OCI_ARCHIVE);
	assert_string_equal(r.domain, "untouched");
	assert_null(r.path);
	assert_null(r.tag);

	/* reterr may be NULL; the code still says what happened. */
	assert_int_equal(image_reference_parse(input, &r, NULL), -EINVAL);
}

static void test_reject(void **state) {
	for (size_t i = 0; i < ELEMENTSOF(reject_cases); i++)
		check_reject(reject_cases[i].input, reject_cases[i].message);
	check_reject(NULL, "invalid image reference '': reference is empty");
}

static void test_lengths(void **state) {
	_cleanup_free_ char *a255 = repeat('a', 255 - strlen("docker.io/library/"));
	_cleanup_free_ char *a256 = repeat('a', 256);
	_cleanup_free_ char *path243 = repeat('b', 255 - strlen("example.com/"));
	_cleanup_free_ char *tag128 = repeat('t', 128), *tag129 = repeat('t', 129);
	_cleanup_free_ char *ok_name = xasprintf("example.com/%s", path243);
	_cleanup_free_ char *long_name = xasprintf("example.com/%sb", path243);
	_cleanup_free_ char *ok_tag = xasprintf("busybox:%s", tag128);
	_cleanup_free_ char *long_tag = xasprintf("busybox:%s", tag129);
	_cleanup_free_ char *msg = NULL;
	_cleanup_(image_reference_release) struct image_reference r = { 0 };

	/* Exactly 255 characters of name: accepted, familiar or not. */
	assert_int_equal(image_reference_parse(a255, &r, NULL), 0);
	assert_int_equal(strlen(r.domain) + 1 + strlen(r.path), 255);
	image_reference_release(&r);
	assert_int_equal(image_reference_parse(ok_name, &r, NULL), 0);
	image_reference_release(&r);
	assert_int_equal(image_reference_parse(ok_tag, &r, NULL), 0);
	assert_string_equal(r.tag, tag128);
	image_reference_release(&r);

	/* The limit applies to the normalised name: 256 'a' become 274. */
	msg = xasprintf("invalid image reference '%s': repository name is longer than 255 characters", a256);
	check_reject(a256, msg);
	free(msg);
	msg = xasprintf("invalid image reference '%s': repository name is longer than 255 characters", long_name);
	check_reject(long_name, msg);
	free(msg);
	msg = xasprintf("invalid image reference '%s': tag '%s' is longer than 128 characters", long_tag, tag129);
	check_reject(long_tag, msg);
}

static void test_huge_input(void **state) {
	_cleanup_free_ char *upper = repeat('A', 400), *huge = repeat('a', IMAGE_REFERENCE_INPUT_MAX + 1);
	_cleanup_free_ char *local = NULL, *msg = NULL, *cut = repeat('a', 300);
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_(image_reference_release) struct image_reference r = { 0 };

	/* Every quoted part stops after 300 bytes with a marker. */
	assert_int_equal(image_reference_parse(upper, &r, &e), -EINVAL);
	assert_non_null(strstr(e->message, "...': repository name '"));
	assert_non_null(strstr(e->message, "...' must be lowercase"));
	assert_true(strlen(e->message) < 700);
	e = za_error_free(e);

	msg = xasprintf("invalid image reference '%s...': reference is longer than 8192 characters", cut);
	check_reject(huge, msg);
	free(msg);

	huge[IMAGE_REFERENCE_PATH_MAX + 1] = '\0';
	local = xasprintf("oci-layout:%s", huge);
	msg = xasprintf("invalid image reference 'oci-layout:%.*s...': oci-layout: path is longer than 4095 characters",
	                300 - (int)strlen("oci-layout:"), huge);
	check_reject(local, msg);
	free(local);
	huge[strlen(huge) - 1] = '\0';
	local = xasprintf("oci-layout:%s", huge);
	assert_int_equal(image_reference_parse(local, &r, NULL), 0);
	assert_int_equal(strlen(r.local_path), 4095);
}

static void test_transport(void **state) {
	static const char *const names[_IMAGE_TRANSPORT_MAX] = {
		"docker",
		"oci-layout",
		"oci-archive",
		"docker-archive",
	};

	for (int t = 0; t < _IMAGE_TRANSPORT_MAX; t++) {
		assert_string_equal(image_transport_to_string(t), names[t]);
		assert_int_equal(image_transport_from_string(names[t]), t);
	}
	assert_null(image_transport_to_string(_IMAGE_TRANSPORT_MAX));
	assert_null(image_transport_to_string(_IMAGE_TRANSPORT_INVALID));
	assert_int_equal(image_transport_from_string("registry"), _IMAGE_TRANSPORT_INVALID);
	assert_int_equal(image_transport_from_string("OCI-LAYOUT"), _IMAGE_TRANSPORT_INVALID);
	assert_int_equal(image_transport_from_string(""), _IMAGE_TRANSPORT_INVALID);
	assert_int_equal(image_transport_from_string(NULL), _IMAGE_TRANSPORT_INVALID);
}

static void test_init_release(void **state) {
	struct image_reference r;

	image_reference_init(&r);
	assert_int_equal(r.transport, IMAGE_TRANSPORT_REGISTRY);
	assert_null(r.domain);
	image_reference_release(&r);
	assert_int_equal(image_reference_parse("oci-layout:/x:1", &r, NULL), 0);
	image_reference_release(&r);
	assert_int_equal(r.transport, IMAGE_TRANSPORT_REGISTRY);
	assert_null(r.local_path);
	assert_null(r.tag);
	image_reference_release(&r);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),    cmocka_unit_test(test_local),
		cmocka_unit_test(test_reject),       cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_huge_input),   cmocka_unit_test(test_transport),
		cmocka_unit_test(test_init_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
