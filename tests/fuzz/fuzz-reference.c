/* SPDX-License-Identifier: Apache-2.0 */
/* Image references come from specs and API bodies. Whatever parses must
 * print to a normal form that parses back to itself, and the short and
 * repository forms must name the same image. */
#include <stddef.h>
#include <stdint.h>

#include "basic/alloc.h"
#include "image/reference.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reparses(const char *s, const char *want_string, const char *want_repository) {
	_cleanup_(image_reference_release) struct image_reference r = { .transport = IMAGE_TRANSPORT_REGISTRY };
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *str = NULL, *repo = NULL;

	if (image_reference_parse(s, &r, &e) < 0 || e)
		abort();
	str = image_reference_to_string(&r);
	repo = image_reference_repository(&r);
	if (!streq(str, want_string))
		abort();
	if (want_repository && !streq(repo, want_repository))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_(image_reference_release) struct image_reference r = { .transport = IMAGE_TRANSPORT_REGISTRY };
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *s = NULL, *str = NULL, *fam = NULL, *repo = NULL;

	if (size > 16384)
		return 0;
	s = xstrndup((const char *)data, size);

	if (image_reference_parse(s, &r, &e) < 0) {
		/* Failure leaves ret alone and always explains itself. */
		if (!e || !e->message || e->kind != ZA_ERROR_INVALID_SPEC || r.domain || r.path || r.tag || r.digest ||
		    r.local_path)
			abort();
		return 0;
	}
	if (e)
		abort();
	if ((r.transport == IMAGE_TRANSPORT_REGISTRY) != (r.local_path == NULL))
		abort();

	str = image_reference_to_string(&r);
	fam = image_reference_familiar(&r);
	repo = image_reference_repository(&r);

	check_reparses(str, str, repo);
	check_reparses(fam, str, repo);
	if (r.transport == IMAGE_TRANSPORT_REGISTRY) {
		/* The bare name parses to the same repository. */
		_cleanup_(image_reference_release) struct image_reference n = { .transport = IMAGE_TRANSPORT_REGISTRY };
		_cleanup_za_error_ struct za_error *ne = NULL;
		_cleanup_free_ char *nrepo = NULL;

		if (image_reference_parse(repo, &n, &ne) < 0)
			abort();
		nrepo = image_reference_repository(&n);
		if (!streq(nrepo, repo))
			abort();
	}
	return 0;
}
