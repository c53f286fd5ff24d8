/*
 * lab_ev.h: checked forms of the libevent calls the lab programs make in
 * passing. They cannot fail on a valid object, so a failure is a broken
 * invariant and ends the program (fatalx) instead of going unnoticed.
 */
#ifndef LAB_EV_H
#define LAB_EV_H

struct bufferevent;
struct event_base;
struct evbuffer;

void	lab_ev_drain(struct evbuffer *);			/* drop all */
void	lab_ev_read_timeout(struct bufferevent *, int seconds);	/* 0: none */
void	lab_ev_disable_read(struct bufferevent *);
void	lab_ev_loopexit(struct event_base *);

#endif
