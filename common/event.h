/* event: an epoll loop with fd callbacks, one-shot timers and signals. */
#ifndef POSTHORN_EVENT_H
#define POSTHORN_EVENT_H

#include <stdint.h>

#define EV_READ		0x1
#define EV_WRITE	0x2

struct event_loop;
struct event_timer;

typedef void	(*event_fd_cb)(int fd, int events, void *arg);
typedef void	(*event_timer_cb)(void *arg);
typedef void	(*event_signal_cb)(int signo, void *arg);

struct event_loop *event_loop_new(void);
/* Register fd for events; mod changes the mask; del forgets it. */
int	 event_add(struct event_loop *, int fd, int events, event_fd_cb, void *);
int	 event_mod(struct event_loop *, int fd, int events);
void	 event_set_handler(struct event_loop *, int fd, event_fd_cb, void *);
void	 event_del(struct event_loop *, int fd);
/* Call cb once after ms milliseconds; cancel before it fires, never after. */
struct event_timer *event_timer_add(struct event_loop *, long ms,
	    event_timer_cb, void *);
void	 event_timer_cancel(struct event_loop *, struct event_timer *);
/* Deliver signo through the loop instead of an async handler. */
int	 event_signal(struct event_loop *, int signo, event_signal_cb, void *);
/* Run until event_loop_exit. */
void	 event_loop_run(struct event_loop *);
void	 event_loop_exit(struct event_loop *);
uint64_t event_now_ms(void);

#endif
