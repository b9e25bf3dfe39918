/* SPDX-License-Identifier: Apache-2.0 */
/* The API's TCP side: listen addresses, the token file, and the check every
 * request on a TCP listener passes before its body is read.
 *
 * The token is API_TOKEN_BYTES from getrandom() written as hex into a 0600
 * file (default ROOT/api-token) the first time the daemon starts with a TCP
 * listener, and reused after. The check hashes whatever the client presents
 * and compares SHA-256 digests with CRYPTO_memcmp: neither the token's bytes
 * nor its length show in the time a rejection takes. The transport is plain
 * HTTP: off loopback the token crosses the network in clear, which is why
 * the daemon warns and the docs ask for a TLS proxy or an SSH tunnel. */
#include "api/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "api/server-internal.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/banned.h"

#define LOG_PATH_MAX 128 /* of a rejected request's path in the log */

/* ---- addresses ---- */

static int address_invalid(const char *s, const char *why, struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
	                     "invalid listen address '%s': %s; use a numeric IPv4 address and a port "
	                     "(127.0.0.1:2376) or an IPv6 address in brackets ([::1]:2376)",
	                     s, why);
}

int api_address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, struct za_error **reterr) {
	struct sockaddr_storage ss = { 0 };
	_cleanup_free_ char *host = NULL;
	const char *port;
	socklen_t len;
	uint32_t p;

	if (isempty(s))
		return address_invalid("", "it is empty", reterr);
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return address_invalid(s, "no ']:PORT' after the IPv6 address", reterr);
		host = xstrndup(s + 1, (size_t)(end - s - 1));
		port = end + 2;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return address_invalid(s, "not an IPv6 address in the brackets", reterr);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		const char *colon = strrchr(s, ':');

		if (!colon)
			return address_invalid(s, "no ':PORT'", reterr);
		host = xstrndup(s, (size_t)(colon - s));
		port = colon + 1;
		sin->sin_family = AF_INET;
		if (strchr(host, ':'))
			return address_invalid(s, "an IPv6 address must be in brackets", reterr);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return address_invalid(s, "not a numeric IPv4 address (host names are not resolved)", reterr);
		len = sizeof(*sin);
	}
	if (parse_uint32(port, &p) < 0 || p > 65535)
		return address_invalid(s, "the port must be a number from 0 to 65535", reterr);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p);
	*ret = ss;
	*ret_len = len;
	return 0;
}

char *api_address_format(const struct sockaddr *sa) {
	char buf[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
			return xasprintf("%s:%u", buf, (unsigned)ntohs(sin->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)))
			return xasprintf("[%s]:%u", buf, (unsigned)ntohs(sin6->sin6_port));
	} else if (sa && sa->sa_family == AF_UNIX)
		return xstrdup("unix socket");
	return xstrdup("?");
}

bool api_address_is_loopback(const struct sockaddr *sa) {
	if (sa && sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int api_listen_tcp(const char *address, char **ret_bound, bool *ret_loopback, struct za_error **reterr) {
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	_cleanup_close_ int fd = -1;
	int r, one = 1;

	r = api_address_parse(address, &ss, &len, reterr);
	if (r < 0)
		return r;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create a TCP socket for '%s': %m",
		                     address);
	/* A restarted daemon must get its port back while old connections
	 * linger in TIME_WAIT. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		r = -errno;
		if (r == -EADDRINUSE)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
			                     "cannot listen on '%s': the address is already in use; choose another "
			                     "port or stop the program that holds it",
			                     address);
		if (r == -EADDRNOTAVAIL)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
			                     "cannot listen on '%s': no interface of this host has that address",
			                     address);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot listen on '%s': %m", address);
	}
	if (listen(fd, 128) < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot listen on '%s': %m", address);
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot read the address of '%s': %m", address);
	if (ret_bound)
		*ret_bound = api_address_format((struct sockaddr *)&bound);
	if (ret_loopback)
		*ret_loopback = api_address_is_loopback((struct sockaddr *)&bound);
	return TAKE_FD(fd);
}

/* ---- the token file ---- */

static bool token_well_formed(const char *s, size_t len) {
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len != 2 * API_TOKEN_BYTES)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static int token_create(const char *path, char **ret_token, struct za_error **reterr) {
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[API_TOKEN_BYTES];
	char text[2 * API_TOKEN_BYTES + 1];
	size_t got = 0;
	int r;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot generate an API token: %m");
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 15];
	}
	text[2 * API_TOKEN_BYTES] = '\n';
	/* The temporary file is born 0600 (mkostemp): no moment in which
	 * others could read the token. */
	r = write_file_atomic(path, text, sizeof(text), 0600);
	explicit_bzero(raw, sizeof(raw));
	if (r < 0) {
		explicit_bzero(text, sizeof(text));
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot write the API token file '%s': %m",
		                     path);
	}
	*ret_token = xstrndup(text, 2 * API_TOKEN_BYTES);
	explicit_bzero(text, sizeof(text));
	return 0;
}

int api_token_load(const char *path, bool create, char **ret_token, bool *ret_created, struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && create) {
			r = token_create(path, ret_token, reterr);
			if (r >= 0 && ret_created)
				*ret_created = true;
			return r;
		}
		if (r == -ELOOP)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
			                     "API token file '%s' is a symbolic link; name the file itself", path);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot open the API token file '%s': %m",
		                     path);
	}
	if (fstat(fd, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno,
		                     "cannot inspect the API token file '%s': %m", path);
	if (!S_ISREG(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "API token file '%s' is not a regular file", path);
	if ((st.st_mode & 07777 & ~(mode_t)0600) != 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EPERM,
		                     "API token file '%s' has mode %04o, looser than 0600: others may have read the "
		                     "token; remove the file to have a new one generated (or 'chmod 600' it if "
		                     "nobody else can have read it)",
		                     path, (unsigned)(st.st_mode & 07777));
	if (st.st_uid != geteuid())
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EPERM,
		                     "API token file '%s' belongs to uid %u, not to the daemon's user (uid %u); "
		                     "remove it to have a new one generated",
		                     path, (unsigned)st.st_uid, (unsigned)geteuid());
	r = read_full_fd(fd, API_TOKEN_FILE_MAX, &buf, &len);
	if (r < 0 && r != -EFBIG)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot read the API token file '%s': %m",
		                     path);
	if (r == -EFBIG || !token_well_formed(buf, len)) {
		if (buf)
			explicit_bzero(buf, len);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "API token file '%s' is malformed: it must hold %d hexadecimal characters and "
		                     "nothing else; remove it to have a new one generated",
		                     path, 2 * API_TOKEN_BYTES);
	}
	*ret_token = xstrndup(buf, 2 * API_TOKEN_BYTES);
	explicit_bzero(buf, len);
	if (ret_created)
		*ret_created = false;
	return 0;
}

/* ---- the check ---- */

void server_token_digest(const char *token, size_t len, unsigned char ret[API_DIGEST_LENGTH]) {
	(void)SHA256((const unsigned char *)token, len, ret);
}

/* What an unauthenticated peer sent, fit for one log line. */
static char *log_escape(const char *s) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; s && s[i] && i < LOG_PATH_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			strbuf_addch(&sb, (char)c);
		else
			strbuf_addf(&sb, "\\x%02x", c);
	}
	if (s && s[i])
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

static void reply_unauthorized(struct api_request *req, const char *message) {
	json_t *body = server_error_body(ZA_ERROR_UNAUTHORIZED, message);
	struct MHD_Response *resp = server_response_from_json(body);

	json_decref(body);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"" API_TOKEN_REALM "\"");
	(void)request_answer(req, 401, resp, false);
}

bool server_request_authorized(const struct api_listener *l, struct api_request *req) {
	const union MHD_ConnectionInfo *ci;
	const char *h, *reason, *message;
	_cleanup_free_ char *peer = NULL, *method = NULL, *path = NULL;
	unsigned char digest[API_DIGEST_LENGTH];

	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h) {
		reason = "no Authorization header";
		message = "this API listener requires the daemon's API token: send 'Authorization: Bearer TOKEN' "
		          "(zlayer-agent: set ZLAYER_TOKEN or use --token-file)";
	} else if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
		reason = "not a bearer token";
		message = "this API listener takes only 'Authorization: Bearer TOKEN' with the daemon's API token";
	} else {
		h += 6;
		h += strspn(h, " \t");
		/* Digests of both sides: equal lengths whatever was sent. */
		server_token_digest(h, strlen(h), digest);
		if (CRYPTO_memcmp(digest, l->token_digest, sizeof(digest)) == 0)
			return true;
		reason = "wrong token";
		message = "the bearer token is not this daemon's API token";
	}

	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	peer = api_address_format(ci ? ci->client_addr : NULL);
	method = log_escape(req->method);
	path = log_escape(req->path);
	log_info("rejected %s %s from %s: %s", method, path, peer, reason);
	reply_unauthorized(req, message);
	return false;
}
