/* SPDX-License-Identifier: Apache-2.0 */
/* An image's /etc/passwd and /etc/group are outside input: resolve a user
 * spec against arbitrary contents. Input: passwd NUL group NUL spec. A
 * resolved user has ids in range and its primary gid first. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/alloc.h"
#include "runtime/passwd.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_free_ char *buf = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *passwd, *group = NULL, *spec = NULL;
	struct passwd_user u = {};
	size_t l;

	if (size > 65536)
		return 0;
	buf = xmalloc(size + 3);
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	passwd = buf;
	l = strlen(passwd);
	if (l < size) {
		group = passwd + l + 1;
		l += strlen(group) + 1;
		if (l < size)
			spec = buf + l + 1;
	}
	/* an empty passwd part stands for a missing file */
	if (passwd_resolve_text(*passwd ? passwd : NULL, group, spec, &u, &err) >= 0) {
		if (u.uid > 2147483647u || u.gid > 2147483647u || u.n_additional_gids < 1 ||
		    u.additional_gids[0] != u.gid)
			abort();
		passwd_user_release(&u);
	} else if (!err || !err->message)
		abort();
	return 0;
}
