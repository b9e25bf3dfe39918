/* SPDX-License-Identifier: Apache-2.0 */
/* src/image/dlopen-libs.c, linked as zlayer-agentd links it: without
 * libcurl and libarchive, which the first call loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define CURL_DISABLE_TYPECHECK
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"

static bool mapped(const char *name) {
	_cleanup_free_ char *maps = NULL;
	size_t len;

	assert_int_equal(read_full_file("/proc/self/maps", 64 << 20, &maps, &len), 0);
	return strstr(maps, name);
}

struct sink {
	char data[256];
	size_t len;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *userdata) {
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n > sizeof(s->data) - s->len)
		return 0;
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return n;
}

/* Not loaded before the first call; then every kind of setopt argument
 * (pointer, long, function, curl_off_t) and getinfo get through. */
static void test_curl(void **state) {
	char path[] = "/tmp/test-dlopen-libs-XXXXXX", *url, *esc, *host = NULL;
	struct sink s = {};
	CURLU *u;
	CURL *h;
	long code = -1;
	curl_off_t size = -1;
	int fd;

	assert_false(mapped("libcurl"));
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_true(mapped("libcurl"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello, lazy", 11), 11);
	close(fd);
	url = xasprintf("file://%s", path);

	h = curl_easy_init();
	assert_non_null(h);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "file"), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)7), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &s), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(s.len, 4);
	assert_memory_equal(s.data, "lazy", 4);
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	assert_int_equal(code, 0); /* file:// has none */
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &size), CURLE_OK);
	assert_int_equal(size, 4);

	/* a long that is neither 0 nor 1 */
	curl_easy_reset(h);
	s.len = 0;
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM, 2L), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &s), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(s.len, 9);
	assert_memory_equal(s.data, "llo, lazy", 9);
	assert_string_equal(curl_easy_strerror(CURLE_FILESIZE_EXCEEDED), "Maximum file size exceeded");

	esc = curl_easy_escape(h, "a b/c", 0);
	assert_string_equal(esc, "a%20b%2Fc");
	curl_free(esc);
	curl_easy_cleanup(h);

	u = curl_url();
	assert_non_null(u);
	assert_int_equal(curl_url_set(u, CURLUPART_URL, "http://example.test:8080/x", 0), CURLUE_OK);
	assert_int_equal(curl_url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
	assert_string_equal(host, "example.test");
	curl_free(host);
	curl_url_cleanup(u);

	unlink(path);
	free(url);
}

/* One file "dir/f.txt" with "tar!" in a ustar archive, written by hand. */
static void write_tar(const char *path) {
	char block[512] = {}, end[1024] = {};
	unsigned sum = 0;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	memcpy(block, "dir/f.txt", 9);
	memcpy(block + 100, "0000644", 7);
	memcpy(block + 108, "0000000", 7);
	memcpy(block + 116, "0000000", 7);
	memcpy(block + 124, "00000000004", 11);
	memcpy(block + 136, "00000000000", 11);
	block[156] = '0';
	memcpy(block + 257, "ustar", 6);
	memcpy(block + 263, "00", 2);
	memset(block + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(block); i++)
		sum += (unsigned char)block[i];
	snprintf(block + 148, 8, "%06o", sum);
	assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	memset(block, 0, sizeof(block));
	memcpy(block, "tar!", 4);
	assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	assert_int_equal(write(fd, end, sizeof(end)), (ssize_t)sizeof(end));
}

static void test_archive(void **state) {
	char path[] = "/tmp/test-dlopen-libs-XXXXXX";
	struct archive_entry *e;
	struct archive *a;
	char data[16];
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_tar(path);

	assert_false(mapped("libarchive"));
	a = archive_read_new();
	assert_non_null(a);
	assert_true(mapped("libarchive"));
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_support_filter_all(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	assert_string_equal(archive_entry_pathname(e), "dir/f.txt");
	assert_int_equal(archive_entry_size(e), 4);
	assert_int_equal(archive_entry_filetype(e), AE_IFREG);
	assert_int_equal(archive_entry_perm(e), 0644);
	assert_int_equal(archive_read_data(a, data, sizeof(data)), 4);
	assert_memory_equal(data, "tar!", 4);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_EOF);

	/* formatted on our side, kept by libarchive */
	archive_set_error(a, EPROTO, "layer %d: %s", 3, "broken");
	assert_int_equal(archive_errno(a), EPROTO);
	assert_string_equal(archive_error_string(a), "layer 3: broken");
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
	unlink(path);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curl),
		cmocka_unit_test(test_archive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
