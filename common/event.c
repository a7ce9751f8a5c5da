/*
 * event: the single-threaded loop that every long-running posthorn process
 * is built around.  epoll for descriptors, a sorted list for the few timers
 * a process keeps (smtpd sweeps idle sessions with one periodic timer
 * rather than one timer per connection), signalfd for signals.
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "event.h"
#include "log.h"

struct event_fd {
	event_fd_cb	 cb;
	void		*arg;
	int		 events;
	int		 live;
	int		 parked;	/* no interest: out of epoll (see event_mod) */
};

struct event_timer {
	uint64_t	 when;
	event_timer_cb	 cb;
	void		*arg;
	struct event_timer *next;
};

struct event_sig {
	int		 signo;
	event_signal_cb	 cb;
	void		*arg;
};

struct event_loop {
	int		 epfd;
	int		 sigfd;
	sigset_t	 sigmask;
	struct event_fd	*fds;
	size_t		 nfds;
	struct event_timer *timers;
	struct event_sig sigs[16];
	int		 nsigs;
	int		 running;
};

static void	 event_sigfd_cb(int, int, void *);
static uint32_t	 event_mask(int);

struct event_loop *
event_loop_new(void)
{
	struct event_loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		log_fatal("event_loop_new");
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		log_fatal("epoll_create1");
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	return l;
}

int
event_add(struct event_loop *l, int fd, int events, event_fd_cb cb, void *arg)
{
	struct epoll_event ev;
	struct event_fd	*n;
	size_t		 nn;

	if (fd < 0)
		log_panic("event_add: fd %d", fd);
	if ((size_t)fd >= l->nfds) {
		nn = (size_t)fd + 64;
		if ((n = reallocarray(l->fds, nn, sizeof(*n))) == NULL)
			return -1;
		memset(n + l->nfds, 0, (nn - l->nfds) * sizeof(*n));
		l->fds = n;
		l->nfds = nn;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = event_mask(events);
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
	l->fds[fd].events = events;
	l->fds[fd].live = 1;
	l->fds[fd].parked = 0;
	return 0;
}

int
event_mod(struct event_loop *l, int fd, int events)
{
	struct epoll_event ev;

	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].live)
		log_panic("event_mod: fd %d not registered", fd);
	if (l->fds[fd].events == events)
		return 0;
	/*
	 * No interest at all: out of epoll, which would otherwise report
	 * HUP and ERR (a reset peer) at every turn, unasked: a busy loop.
	 */
	if (events == 0) {
		if (!l->fds[fd].parked &&
		    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == -1)
			return -1;
		l->fds[fd].parked = 1;
		l->fds[fd].events = 0;
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = event_mask(events);
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, l->fds[fd].parked ? EPOLL_CTL_ADD :
	    EPOLL_CTL_MOD, fd, &ev) == -1)
		return -1;
	l->fds[fd].parked = 0;
	l->fds[fd].events = events;
	return 0;
}

/* A new owner for a registered descriptor: no system call. */
void
event_set_handler(struct event_loop *l, int fd, event_fd_cb cb, void *arg)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].live)
		log_panic("event_set_handler: fd %d not registered", fd);
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
}

void
event_del(struct event_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].live)
		return;
	if (!l->fds[fd].parked)
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].live = 0;
	l->fds[fd].parked = 0;
	l->fds[fd].cb = NULL;
}

struct event_timer *
event_timer_add(struct event_loop *l, long ms, event_timer_cb cb, void *arg)
{
	struct event_timer *t, **pp;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		log_fatal("event_timer_add");
	t->when = event_now_ms() + (uint64_t)(ms < 0 ? 0 : ms);
	t->cb = cb;
	t->arg = arg;
	for (pp = &l->timers; *pp && (*pp)->when <= t->when; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t;
}

void
event_timer_cancel(struct event_loop *l, struct event_timer *t)
{
	struct event_timer **pp;

	for (pp = &l->timers; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
}

int
event_signal(struct event_loop *l, int signo, event_signal_cb cb, void *arg)
{
	if (l->nsigs == (int)(sizeof(l->sigs) / sizeof(l->sigs[0])))
		log_panic("event_signal: too many signals");
	l->sigs[l->nsigs].signo = signo;
	l->sigs[l->nsigs].cb = cb;
	l->sigs[l->nsigs].arg = arg;
	l->nsigs++;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) == -1)
		return -1;
	if (l->sigfd == -1) {
		l->sigfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (l->sigfd == -1)
			return -1;
		return event_add(l, l->sigfd, EV_READ, event_sigfd_cb, l);
	}
	return signalfd(l->sigfd, &l->sigmask, 0) == -1 ? -1 : 0;
}

void
event_loop_run(struct event_loop *l)
{
	struct epoll_event evs[128];
	struct event_timer *t;
	struct event_fd	*f;
	uint64_t	 now;
	int		 n, i, timeout, fd, what;

	l->running = 1;
	while (l->running) {
		timeout = -1;
		if (l->timers) {
			now = event_now_ms();
			timeout = l->timers->when <= now ? 0 :
			    (int)(l->timers->when - now > 60000 ? 60000 :
			    l->timers->when - now);
		}
		n = epoll_wait(l->epfd, evs, 128, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("epoll_wait");
		}
		for (i = 0; i < n && l->running; i++) {
			fd = evs[i].data.fd;
			if ((size_t)fd >= l->nfds || !l->fds[fd].live)
				continue;
			f = &l->fds[fd];
			what = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				what |= EV_READ;
			if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				what |= EV_WRITE;
			/* HUP/ERR come even unasked: hold them until wanted. */
			what &= f->events;
			if (what == 0)
				continue;
			f->cb(fd, what, f->arg);
		}
		now = event_now_ms();
		while (l->running && l->timers && l->timers->when <= now) {
			t = l->timers;
			l->timers = t->next;
			t->cb(t->arg);
			free(t);
		}
	}
}

void
event_loop_exit(struct event_loop *l)
{
	l->running = 0;
}

uint64_t
event_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
event_sigfd_cb(int fd, int events, void *arg)
{
	struct event_loop *l = arg;
	struct signalfd_siginfo si;
	int		 i;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		for (i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo)
				l->sigs[i].cb((int)si.ssi_signo, l->sigs[i].arg);
}

static uint32_t
event_mask(int events)
{
	uint32_t	 m = 0;

	if (events & EV_READ)
		m |= EPOLLIN;
	if (events & EV_WRITE)
		m |= EPOLLOUT;
	return m;
}
