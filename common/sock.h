/* sock: sockets, descriptor passing and durable-write helpers. */
#ifndef POSTHORN_SOCK_H
#define POSTHORN_SOCK_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>

#include "buf.h"

int	 sock_nonblock(int fd);
int	 sock_blocking(int fd);
int	 sock_cloexec(int fd, int on);
int	 sock_unix_listen(const char *path, int backlog);
int	 sock_unix_connect(const char *path);
/* "a.b.c.d:port", "[v6]:port" or "*:port" (IPv4 any). */
int	 sock_inet_parse(const char *addrport, struct sockaddr_storage *,
	    socklen_t *, char *err, size_t errlen);
int	 sock_inet_listen(const char *addrport, int backlog, char *err,
	    size_t errlen);
/* Send bytes with one descriptor attached; receive the same. */
ssize_t	 sock_send_fd(int sock, const void *, size_t, int fd);
ssize_t	 sock_recv_fd(int sock, void *, size_t, int *fd);
/* Up to SOCK_MAX_FDS descriptors with one message (the rest are closed). */
#define SOCK_MAX_FDS	2
ssize_t	 sock_send_fds(int sock, const void *, size_t, const int *, int);
ssize_t	 sock_recv_fds(int sock, void *, size_t, int *, int *);
/* Non-blocking buffered I/O for the event-driven processes. */
ssize_t	 sock_read_buf(int fd, struct buf *);
ssize_t	 sock_read_buf_fd(int, struct buf *, int *passed);
int	 sock_write_buf(int fd, struct buf *);
/* Blocking helpers for the processes that work one job at a time. */
int	 io_write_all(int fd, const void *, size_t);
int	 io_fsync_dir(const char *path);

#endif
