/* queueid: unique, time-sortable queue IDs. */
#ifndef POSTHORN_QUEUEID_H
#define POSTHORN_QUEUEID_H

#define QUEUEID_LEN	16

/* 8 hex digits of seconds, 5 of microseconds, 3 of a counter. */
void	 queueid_new(char id[QUEUEID_LEN + 1]);
int	 queueid_valid(const char *);
/* The hashed subfolder a queue file lives in: one hex digit. */
char	 queueid_hash(const char *);

#endif
