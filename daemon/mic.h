/* daemon/mic.h: shopd's microphone, from the device to commands on the main
 * thread.
 *
 * Two threads run it. audio/capture's thread owns PortAudio: it opens the
 * device ([microphone] device), resamples to 16 kHz, and reopens it with
 * back-off when it is missing, stalls or is unplugged (one log line per
 * change of state). The listening thread made here reads those samples and
 * runs audio/listener (keyword spotter, wake word, end of command,
 * grammar); every command it ends goes to the main thread as one message
 * over an inproc PAIR. The listening thread owns one end and the main
 * thread the other (mic_socket), so no ZeroMQ socket is shared between
 * threads. The main thread polls that socket, takes each command with
 * mic_recv and answers it as a request on the microphone's session. No
 * audio is kept: samples live in the capture buffers (4 s) and the
 * spotter's one-second window only. */
#ifndef SHOP_DAEMON_MIC_H
#define SHOP_DAEMON_MIC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "audio/listener.h"
#include "daemon/conf.h"

typedef struct _mic_t mic_t;

/* Starts listening as cfg's [microphone] section says (cfg->mic_device
 * must not be empty), with the keyword spotter cfg->kws_model, on the
 * ZeroMQ context ctx (borrowed; destroy the mic before terminating it). A
 * missing device is not an error: the capture thread keeps trying. Returns
 * the mic (free with mic_destroy) or NULL with err filled (no spotter
 * model, bad settings, no thread). */
mic_t *mic_new(void *ctx, const conf_t *cfg, char *err, size_t errlen);

/* Stops both threads, closes the device and the sockets; safe on NULL and
 * twice; nulls *self_p. */
void mic_destroy(mic_t **self_p);

/* The main thread's end of the PAIR, for zmq_poll (owned by self). */
void *mic_socket(mic_t *self);

/* Takes one command from the PAIR without waiting. Returns 1 with *u
 * filled, 0 when none is waiting, -1 on a socket error (logged). Main
 * thread only. */
int mic_recv(mic_t *self, listener_utterance_t *u);

/* The session commands are answered on (owned by self). */
const char *mic_session(const mic_t *self);

/* {"device", "device_name", "state" ("opening" | "listening" |
 * "reopening"), "error", "opens", "failures", "overruns", "samples_lost",
 * "audio_seconds", "detections", "wakes", "ignored", "timeouts",
 * "commands", "understood", "dropped", "session", "wake_word",
 * "require_wake"}: a new object. */
json_t *mic_status_json(mic_t *self);

#endif
