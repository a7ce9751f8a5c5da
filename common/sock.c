/* sock: small wrappers so every caller gets the error handling right. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "sock.h"

static int	 sock_unix_socket(const char *, struct sockaddr_un *);

int
sock_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
sock_blocking(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

int
sock_cloexec(int fd, int on)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, fl);
}

int
sock_unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int		 fd, e;

	if ((fd = sock_unix_socket(path, &sun)) == -1)
		return -1;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, backlog) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
sock_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int		 fd, e;

	if ((fd = sock_unix_socket(path, &sun)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Read what is there into b (at most its cap): >0 bytes read, 0 at EOF,
 * -1 with errno (EAGAIN when nothing is there yet, EMSGSIZE when b is
 * full).
 */
ssize_t
sock_read_buf(int fd, struct buf *b)
{
	ssize_t	 n;
	size_t	 want = 4096;

	if (b->max && b->len + want > b->max)
		want = b->max > b->len ? b->max - b->len : 0;
	if (want == 0 || buf_reserve(b, want) == -1) {
		errno = EMSGSIZE;
		return -1;
	}
	do
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return n;
}

/* sock_read_buf that also takes a passed descriptor (-1: none came). */
ssize_t
sock_read_buf_fd(int fd, struct buf *b, int *passed)
{
	ssize_t	 n;
	size_t	 want = 4096;

	*passed = -1;
	if (b->max && b->len + want > b->max)
		want = b->max > b->len ? b->max - b->len : 0;
	if (want == 0 || buf_reserve(b, want) == -1) {
		errno = EMSGSIZE;
		return -1;
	}
	do
		n = sock_recv_fd(fd, b->data + b->len, b->cap - b->len - 1,
		    passed);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return n;
}

/* Write out b: 0 when empty, 1 when the rest must wait, -1 on error. */
int
sock_write_buf(int fd, struct buf *b)
{
	ssize_t	 n;

	while (b->len > 0) {
		n = send(fd, b->data, b->len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -1;
		}
		buf_consume(b, (size_t)n);
	}
	return 0;
}

static int
sock_unix_socket(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/*
 * "host:port", "[v6]:port" or "*:port" (all IPv4 addresses; "[::]:port"
 * for all IPv6 ones) into a socket address.
 */
int
sock_inet_parse(const char *addrport, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char		 host[128], *colon, *end;
	long		 port;

	if (strlcpy(host, addrport, sizeof(host)) >= sizeof(host) ||
	    (colon = strrchr(host, ':')) == NULL) {
		snprintf(err, errlen, "'%s': expected address:port", addrport);
		return -1;
	}
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || errno || port < 1 || port > 65535) {
		snprintf(err, errlen, "'%s': bad port", addrport);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && strlen(host) > 2 &&
	    host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memmove(host, host + 1, strlen(host));
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s': not an IPv6 address",
			    host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	*sslen = sizeof(*sin);
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		snprintf(err, errlen, "'%s': not an IP address (IPv6 goes in "
		    "brackets)", host);
		return -1;
	}
	return 0;
}

int
sock_inet_listen(const char *addrport, int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	int		 fd, on = 1;

	if (sock_inet_parse(addrport, &ss, &sslen, err, errlen) == -1)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1 ||
	    listen(fd, backlog) == -1) {
		snprintf(err, errlen, "bind %s: %s", addrport, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

ssize_t
sock_send_fd(int sock, const void *p, size_t len, int fd)
{
	return sock_send_fds(sock, p, len, &fd, fd >= 0 ? 1 : 0);
}

ssize_t
sock_send_fds(int sock, const void *p, size_t len, const int *fds, int nfd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
	} cm;
	struct cmsghdr	*c;

	if (nfd < 0 || nfd > SOCK_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfd > 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t
sock_recv_fd(int sock, void *p, size_t len, int *fd)
{
	int	 fds[SOCK_MAX_FDS], n, i;
	ssize_t	 r;

	*fd = -1;
	if ((r = sock_recv_fds(sock, p, len, fds, &n)) == -1)
		return -1;
	/* One expected: any more are not ours to keep. */
	for (i = 0; i < n; i++) {
		if (i == 0)
			*fd = fds[0];
		else
			close(fds[i]);
	}
	return r;
}

ssize_t
sock_recv_fds(int sock, void *p, size_t len, int *fds, int *nfd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
	} cm;
	struct cmsghdr	*c;
	ssize_t		 n;
	size_t		 k, got;

	*nfd = 0;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	if ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) == -1)
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < got; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (*nfd < SOCK_MAX_FDS)
				fds[(*nfd)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int
io_write_all(int fd, const void *p, size_t len)
{
	const char	*c = p;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, c, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_fsync_dir(const char *path)
{
	int	 fd, r, e;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}
