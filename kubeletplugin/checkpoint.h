/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin's record of prepared claims: <plugins-dir>/<driver>/checkpoint.json.
 *
 * {"apiVersion": "hostdev.example.com/v1alpha1", "kind": "Checkpoint",
 *  "checksum": "crc32:<8 hex>",         -- over the compact, key-sorted "data" object
 *  "data": {"bootID": "...", "claims": [{"uid", "namespace", "name",
 *           "state": "PrepareStarted" | "PrepareCompleted", "specFile",
 *           "devices": [{"request", "pool", "device", "shareID", "adminAccess", "cdiIDs": [...],
 *                        "envSet": <index>}],
 *           "envSets": [["KEY=VALUE", ...], ...]}]}}
 *
 * Opaque env is stored once per claim: each distinct set once in "envSets", devices name theirs
 * by index (older files had an "env" list on every device; it is still read).
 *
 * Entries are two-phase: PrepareStarted is written before the CDI spec, PrepareCompleted after
 * it, so a crash in between leaves a visible leftover to clean up. Decoding is tolerant (unknown
 * fields ignored, missing optional ones default); a file that does not parse, fails its
 * checksum or has an unknown apiVersion/kind is moved aside, never fatal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/cleanup-json.h"

#include "devmodel/prepare.h"

struct hd_error;

#define KP_CHECKPOINT_API_VERSION "hostdev.example.com/v1alpha1"
#define KP_CHECKPOINT_KIND "Checkpoint"
#define KP_CHECKPOINT_MAX_BYTES (16 * 1024 * 1024)

enum kp_claim_state { KP_PREPARE_STARTED, KP_PREPARE_COMPLETED };

/* One entry: the prepared-claim record and how far its prepare got. The record's devices are
 * known from PrepareStarted on (they reserve the devices); CDI IDs and spec file are filled in
 * before PrepareCompleted. */
struct kp_ckpt_claim {
        enum kp_claim_state state;
        struct dm_prepared_claim prepared;
};

struct kp_checkpoint {
        char *boot_id; /* boot the entries were written in; NULL if unknown */
        struct kp_ckpt_claim *claims;
        size_t n_claims;
};

struct kp_checkpoint *kp_checkpoint_new(const char *boot_id);
struct kp_checkpoint *kp_checkpoint_free(struct kp_checkpoint *cp);

/* Load PATH. A missing file gives an empty checkpoint (0). A corrupt or foreign file is renamed
 * to "<path>.corrupt-<unix seconds>", *RET is empty, *RET_MOVED_ASIDE names the new file (caller
 * frees) and RETERR explains why; the return value is still 0 so start-up goes on. Other I/O
 * errors return -errno. */
int kp_checkpoint_load(const char *path, struct kp_checkpoint **ret, char **ret_moved_aside,
                       struct hd_error *reterr);

/* Serialise CP as written on disk into *RET (caller frees), refusing (-EFBIG, naming the limit)
 * a document larger than KP_CHECKPOINT_MAX_BYTES: nothing is written that load cannot read. */
int kp_checkpoint_dump(const struct kp_checkpoint *cp, char **ret, size_t *ret_len,
                       struct hd_error *reterr);

/* Write atomically (temp + fsync + rename + dir fsync), mode 0600, after kp_checkpoint_dump().
 * Returns 0 or -errno. */
int kp_checkpoint_save(const char *path, const struct kp_checkpoint *cp, struct hd_error *reterr);

/* Serialise/parse the whole document (for tests and tools). */
json_t *kp_checkpoint_to_json(const struct kp_checkpoint *cp);
int kp_checkpoint_from_json(json_t *doc, struct kp_checkpoint **ret, struct hd_error *reterr);

/* Entry for UID, or NULL. Borrowed; valid until the checkpoint changes. */
struct kp_ckpt_claim *kp_checkpoint_find(struct kp_checkpoint *cp, const char *uid);

/* Insert or replace the entry with CLAIM's uid; the checkpoint takes CLAIM's contents (CLAIM
 * is left zeroed). */
void kp_checkpoint_put(struct kp_checkpoint *cp, struct kp_ckpt_claim *claim);

/* Remove UID's entry. Returns true if there was one. */
bool kp_checkpoint_remove(struct kp_checkpoint *cp, const char *uid);

/* Deep copy of an entry into *DST (zeroed by the caller). */
void kp_ckpt_claim_copy(struct kp_ckpt_claim *dst, const struct kp_ckpt_claim *src);
void kp_ckpt_claim_done(struct kp_ckpt_claim *c);

/* The state's name as the checkpoint spells it ("PrepareStarted", "PrepareCompleted"). */
const char *kp_checkpoint_state_name(enum kp_claim_state s);

/* This boot's ID for the checkpoint's bootID (/proc/sys/kernel/random/boot_id, trimmed), or
 * NULL. Caller frees. */
char *kp_checkpoint_boot_id(void);

/* CRC-32 (IEEE 802.3) of LEN bytes, as the checkpoint's checksum uses it. */
unsigned long kp_checkpoint_crc32(const void *data, size_t len);
