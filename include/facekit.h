/*
 * facekit.h - the one public API of facekit: face detection, alignment,
 * face embeddings, verification, attributes and reverse face search, in C.
 *
 * Objects and their lifecycle:
 *   fk_models   the loaded networks. Read-only after fk_models_open() but for
 *               an atomic count of the cores its sessions' runs occupy (so
 *               that sessions sharing it never oversubscribe the machine):
 *               one instance may be shared by any number of threads.
 *   fk_session  scratch buffers and inference runtimes for one thread. Create
 *               one per thread from a shared fk_models.
 *   fk_image    a decoded 8-bit RGB image owned by the caller.
 *
 * Every fallible function returns an int status: FK_OK (0) or one of the
 * negative FK_E* codes below. fk_strerror() turns a code into a message;
 * fk_models_errmsg() and fk_session_errmsg() give the detail of the last
 * failure on that handle (which file, which tensor, ...).
 *
 * Nothing in facekit downloads anything. Models are fetched once by the
 * set-up step (`make models`, i.e. tools/fetch-models.sh).
 */
#ifndef FACEKIT_H
#define FACEKIT_H

/* The API in parts, each usable alone (each includes what it needs):
 *   facekit_core.h   status codes, images, models and sessions, faces,
 *                    comparing embeddings, attributes
 *   facekit_index.h  the face index (SQLite, PostgreSQL), search, edits
 *   facekit_track.h  tracking faces across video frames
 *   facekit_eval.h   the evaluation harness (LFW, gender, retrieval) */
#include "facekit_core.h"
#include "facekit_index.h"
#include "facekit_track.h"
#include "facekit_eval.h"

#endif /* FACEKIT_H */
