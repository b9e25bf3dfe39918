/* SPDX-License-Identifier: Apache-2.0 */
/* The tables come from moby's oci/defaults.go and profiles/seccomp/
 * default.json (Docker 28); the JSON is generated, never shipped. */
#include "oci-defaults.h"

#include <ctype.h>
#include <sys/utsname.h>

#include "basic/alloc.h"
#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "banned-free-placeholder.h"
