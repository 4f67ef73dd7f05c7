/* daemon/lock.h: one shopd per endpoint and per database.
 *
 * libzmq replaces an existing ipc:// socket file when it binds, so a second
 * shopd on the same endpoint would silently take the first one's clients,
 * and one that then fails would unlink a socket it never owned. Before any
 * socket binds, shopd takes an exclusive flock(2) on "PATH.lock" beside each
 * ipc:// socket (holding its pid, as Postfix's master.pid / OpenSSH's pid
 * file do) and on the database file itself (flock does not mix with SQLite's
 * POSIX locks, so other readers of the file are not disturbed). A lock held
 * by another process means refusal, with its pid when known. The kernel drops
 * the locks when shopd exits, however it exits; the .lock files stay. */
#ifndef SHOP_DAEMON_LOCK_H
#define SHOP_DAEMON_LOCK_H

#include <stddef.h>

/* Locks the socket file of an ipc:// endpoint. *fd gets the lock's
 * descriptor, or -1 when the endpoint has no file to protect (tcp://, an
 * abstract ipc://@name: the kernel refuses a second bind of those itself).
 * Returns 0, or -1 with err ("... is in use by shopd pid N"). */
int lock_endpoint(const char *endpoint, int *fd, char *err, size_t errlen);

/* Locks the database file path (creating it, empty, and its directory with
 * mode 0700 when missing, as SQLite would). Opens read-only, so a database
 * on read-only media is locked too. A PostgreSQL URI is not locked (many
 * devices share one server): 0 with *fd = -1. Returns 0 with *fd, or -1
 * with err. */
int lock_database(const char *path, int *fd, char *err, size_t errlen);

/* Releases a lock (closes *fd) and sets *fd to -1; safe on -1. */
void lock_release(int *fd);

#endif
