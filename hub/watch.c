/* watch: silent endpoints, checked on a timer; see watch.h. */
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "jitsu/log.h"
#include "storage.h"

#define WATCH_PERIOD_S 1
#define WATCH_LOG_EVERY_S 60

struct watch {
	struct storage *st;
	int silent_after;
	struct webhook *hooks;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop */
	pthread_cond_t cond;
	int stop;
};

static void scan(struct watch *w, int64_t *logged)
{
	struct storage_alert_list raised;
	char err[256] = "";
	int64_t now = (int64_t)time(NULL);

	int rc = storage_silent_scan(w->st, now - w->silent_after, now, &raised, err, sizeof err);
	if (rc != STORAGE_OK) {
		if (now - *logged >= WATCH_LOG_EVERY_S) {
			log_err("silent endpoints: %s: %s", storage_strerror(rc), err);
			*logged = now;
		}
		return;
	}
	alert_announce(w->hooks, &raised);
	storage_alert_list_free(&raised);
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	int64_t logged = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		pthread_mutex_unlock(&w->lock);
		scan(w, &logged);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += WATCH_PERIOD_S;
		pthread_mutex_lock(&w->lock);
		while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int watch_start(struct watch **out, const struct watch_options *o, char *err, size_t errlen)
{
	struct watch *w = calloc(1, sizeof *w);

	*out = NULL;
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->silent_after = o->silent_after;
	w->hooks = o->hooks;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (storage_open(&w->st, o->db, err, errlen) != STORAGE_OK) {
		free(w);
		return -1;
	}
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		storage_close(w->st);
		free(w);
		snprintf(err, errlen, "cannot start the watch thread");
		return -1;
	}
	*out = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	storage_close(w->st);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
