/*
 * queueid: IDs are made only by qmgr, one process, so time plus a counter
 * is unique; the time part keeps them sortable by arrival and unique
 * across restarts (a restart takes far longer than a microsecond).
 */
#include <sys/time.h>

#include <stdio.h>
#include <string.h>

#include "queueid.h"

void
queueid_new(char id[QUEUEID_LEN + 1])
{
	static struct timeval	 last;
	static unsigned		 seq;
	struct timeval		 tv;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec < last.tv_sec ||
	    (tv.tv_sec == last.tv_sec && tv.tv_usec <= last.tv_usec)) {
		/* Same microsecond (or the clock stepped back): count on. */
		if (++seq > 0xfff) {
			seq = 0;
			if (++last.tv_usec > 999999) {
				last.tv_usec = 0;
				last.tv_sec++;
			}
		}
		tv = last;
	} else
		seq = 0;
	last = tv;
	snprintf(id, QUEUEID_LEN + 1, "%08lX%05lX%03X",
	    (unsigned long)tv.tv_sec & 0xffffffffUL,
	    (unsigned long)tv.tv_usec, seq);
}

int
queueid_valid(const char *id)
{
	return strlen(id) == QUEUEID_LEN &&
	    strspn(id, "0123456789ABCDEF") == QUEUEID_LEN;
}

char
queueid_hash(const char *id)
{
	/* Low microsecond digit: spread evenly even within one second. */
	return id[12];
}
