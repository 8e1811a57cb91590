/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the CDI spec directory (cdi/specdir.c): write, remove, list and temp-file
 * sweep in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup-json.h"

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "cdi_fixtures.h"

#define DRIVER "hostdev.example.com"
#define UID1 "6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b"
#define UID2 "0b9a8c7d-6e5f-4a3b-9c2d-1e0f2a3b4c5d"

/* ---- spec directory ----------------------------------------------------------------------- */

struct tmpdir {
        char path[64];
};

static int setup_tmpdir(void **state)
{
        struct tmpdir *t = hd_new0(struct tmpdir, 1);

        strcpy(t->path, "/tmp/test_cdi_dir.XXXXXX");
        if (!mkdtemp(t->path))
                return -1;
        *state = t;
        return 0;
}

static int teardown_tmpdir(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *cmd = hd_asprintf("rm -rf '%s'", t->path);

        if (system(cmd) != 0)
                return -1;
        free(t);
        return 0;
}

/* Names in DIR, sorted, including dot files. */
static char **dir_names(const char *dir)
{
        char **names = NULL;
        struct dirent **list;
        int n = scandir(dir, &list, NULL, alphasort);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, ".."))
                        hd_strv_push(&names, list[i]->d_name);
                free(list[i]);
        }
        free(list);
        return names;
}

static void test_specdir_write(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *root = hd_asprintf("%s/run/cdi", t->path);
        _cleanup_free_ char *file = NULL, *path = NULL, *text = NULL, *expect = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_claim_spec(DRIVER, UID1, 0, 4);
        _cleanup_cdi_spec_ struct cdi_spec *back = NULL;
        _cleanup_strv_ char **names = NULL;
        struct hd_error e = HD_ERROR_INIT;
        struct stat st;
        size_t len;

        assert_int_equal(cdi_claim_spec_file_name(DRIVER, UID1, &file, NULL), 0);
        /* The root is created (0755) when missing. */
        if (cdi_spec_write(root, file, spec, &e) < 0)
                fail_msg("%s", hd_error_message(&e));
        assert_int_equal(stat(root, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0022, 0);

        path = hd_asprintf("%s/%s", root, file);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(hd_read_file(path, CDI_SPEC_MAX_SIZE, true, &text, &len, NULL), 0);
        expect = cdi_spec_to_json(spec);
        assert_string_equal(text, expect);
        assert_int_equal(cdi_spec_load_file(path, &back, NULL), 0);

        /* Rewriting replaces atomically and leaves no temp file behind. */
        cdi_edits_add_env(&spec->edits, "REWRITTEN=1");
        assert_int_equal(cdi_spec_write(root, file, spec, &e), 0);
        names = dir_names(root);
        assert_int_equal(hd_strv_len(names), 1);
        assert_string_equal(names[0], file);

        /* An invalid spec is refused before anything is written. */
        cdi_edits_add_env(&spec->edits, "=bad");
        assert_int_equal(cdi_spec_write(root, file, spec, &e), -EINVAL);
        assert_true(hd_startswith(hd_error_message(&e), "CDI spec k8s."));
        hd_strv_free(names);
        names = dir_names(root);
        assert_int_equal(hd_strv_len(names), 1);

        /* Unsafe or non-.json file names are refused. */
        assert_int_equal(cdi_spec_write(root, "../escape.json", spec, NULL), -EINVAL);
        assert_int_equal(cdi_spec_write(root, "spec.yaml", spec, NULL), -EINVAL);
        assert_int_equal(cdi_spec_write(root, ".json", spec, NULL), -EINVAL);
        assert_int_equal(cdi_spec_write(root, "", spec, NULL), -EINVAL);
        hd_error_done(&e);
}

/* What cdi_spec_write() writes, cdi_spec_load_file() can read: a spec past CDI_SPEC_MAX_SIZE is
 * refused with an error naming the limit, and nothing is written. */
static void test_specdir_write_capped_at_read_limit(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *root = hd_asprintf("%s/run/cdi", t->path);
        _cleanup_free_ char *file = NULL, *path = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_claim_spec(DRIVER, UID1, 0, 1);
        struct hd_error e = HD_ERROR_INIT;
        char value[4001];
        memset(value, 'v', sizeof(value) - 1);
        value[sizeof(value) - 1] = '\0';
        for (unsigned i = 0; i * sizeof(value) <= CDI_SPEC_MAX_SIZE; i++) {
                _cleanup_free_ char *kv = hd_asprintf("V%u=%s", i, value);
                cdi_edits_add_env(&spec->edits, kv);
        }
        assert_int_equal(cdi_claim_spec_file_name(DRIVER, UID1, &file, NULL), 0);
        assert_int_equal(cdi_spec_write(root, file, spec, &e), -EFBIG);
        assert_non_null(strstr(hd_error_message(&e), "CDI_SPEC_MAX_SIZE"));
        path = hd_asprintf("%s/%s", root, file);
        assert_int_equal(access(path, F_OK), -1);
        hd_error_done(&e);
}

static void test_specdir_refuses_symlink(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *victim = hd_asprintf("%s/victim", t->path);
        _cleanup_free_ char *root = hd_asprintf("%s/cdi", t->path);
        _cleanup_free_ char *rootlink = hd_asprintf("%s/cdilink", t->path);
        _cleanup_free_ char *target = NULL, *file = NULL, *content = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_claim_spec(DRIVER, UID1, 0, 1);
        _cleanup_strv_ char **names = NULL;
        struct hd_error e = HD_ERROR_INIT;
        size_t len;
        FILE *f;

        f = fopen(victim, "w");
        fputs("precious", f);
        fclose(f);
        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(cdi_claim_spec_file_name(DRIVER, UID1, &file, NULL), 0);
        target = hd_asprintf("%s/%s", root, file);
        assert_int_equal(symlink(victim, target), 0);

        assert_int_equal(cdi_spec_write(root, file, spec, &e), -ELOOP);
        assert_non_null(strstr(hd_error_message(&e), "symlink"));
        /* Both the link and what it points at are untouched. */
        assert_int_equal(hd_read_file(victim, 100, true, &content, &len, NULL), 0);
        assert_string_equal(content, "precious");
        names = dir_names(root);
        assert_int_equal(hd_strv_len(names), 1);
        assert_string_equal(names[0], file);
        /* A symlink is not one of our specs. */
        hd_strv_free(names);
        assert_int_equal(cdi_spec_list_owned(root, "k8s.", &names, NULL), 0);

        /* A symlinked CDI root is refused as well. */
        assert_int_equal(symlink(root, rootlink), 0);
        assert_int_equal(cdi_spec_write(rootlink, "k8s.x-y.json", spec, &e), -ELOOP);
        hd_error_done(&e);
}

static void test_specdir_remove(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *root = hd_asprintf("%s/cdi", t->path);
        _cleanup_free_ char *missing_root = hd_asprintf("%s/nope", t->path);
        _cleanup_free_ char *path = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(0);
        struct stat st;

        assert_int_equal(cdi_spec_write(root, "a.json", spec, NULL), 0);
        assert_int_equal(cdi_spec_remove(root, "a.json", NULL), 0);
        path = hd_asprintf("%s/a.json", root);
        assert_int_equal(lstat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
        /* Idempotent: a missing file, or a missing root, is success. */
        assert_int_equal(cdi_spec_remove(root, "a.json", NULL), 0);
        assert_int_equal(cdi_spec_remove(missing_root, "a.json", NULL), 0);
        assert_int_equal(cdi_spec_remove(root, "../a.json", NULL), -EINVAL);
        assert_int_equal(cdi_spec_remove(root, "", NULL), -EINVAL);
}

static void test_specdir_list_owned(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *root = hd_asprintf("%s/cdi", t->path);
        _cleanup_free_ char *prefix = cdi_claim_spec_file_prefix(DRIVER);
        _cleanup_free_ char *f1 = NULL, *f2 = NULL, *sub = NULL, *uid = NULL;
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(0);
        _cleanup_strv_ char **names = NULL;
        static const char *const others[] = {
                "k8s.other.example.com-claim_" UID1 ".json", /* another driver */
                "nvidia.com-gpu.json",                       /* another vendor */
                "k8s." DRIVER "-gpu.json",                   /* our static group spec */
                "k8s." DRIVER "-claim_" UID1 ".json.bak",    /* not a spec extension */
        };
        FILE *f;

        /* A missing root lists nothing. */
        assert_int_equal(cdi_spec_list_owned(root, prefix, &names, NULL), 0);
        assert_non_null(names);
        assert_null(names[0]);
        hd_strv_free(names);
        names = NULL;

        assert_int_equal(cdi_claim_spec_file_name(DRIVER, UID2, &f1, NULL), 0);
        assert_int_equal(cdi_claim_spec_file_name(DRIVER, UID1, &f2, NULL), 0);
        assert_int_equal(cdi_spec_write(root, f1, spec, NULL), 0);
        assert_int_equal(cdi_spec_write(root, f2, spec, NULL), 0);
        for (size_t i = 0; i < HD_ARRAY_SIZE(others); i++) {
                _cleanup_free_ char *p = hd_asprintf("%s/%s", root, others[i]);

                f = fopen(p, "w");
                fputs("{}", f);
                fclose(f);
        }
        /* A .yaml spec with our prefix is ours too (an older version may have written it). */
        {
                _cleanup_free_ char *p = hd_asprintf("%s/k8s." DRIVER "-claim_%s.yaml", root,
                                                     "11111111-2222-3333-4444-555555555555");

                f = fopen(p, "w");
                fclose(f);
        }
        /* A directory with our prefix is not. */
        sub = hd_asprintf("%s/k8s." DRIVER "-claim_dir.json", root);
        assert_int_equal(mkdir(sub, 0755), 0);

        assert_int_equal(cdi_spec_list_owned(root, prefix, &names, NULL), 3);
        assert_string_equal(names[0], f1); /* sorted: 0b9a... < 1111... < 6f1a... */
        assert_string_equal(names[1],
                            "k8s." DRIVER "-claim_11111111-2222-3333-4444-555555555555.yaml");
        assert_string_equal(names[2], f2);
        assert_null(names[3]);
        assert_int_equal(cdi_claim_uid_from_file_name(DRIVER, names[1], &uid), 0);
        assert_string_equal(uid, "11111111-2222-3333-4444-555555555555");

        /* The broader prefix of everything we own includes the static group spec. */
        hd_strv_free(names);
        names = NULL;
        assert_int_equal(cdi_spec_list_owned(root, "k8s." DRIVER "-", &names, NULL), 4);
}

/* Temp files of interrupted writes of our claim specs go; everyone else's stay. */
static void test_specdir_sweep_temp(void **state)
{
        struct tmpdir *t = *state;
        _cleanup_free_ char *root = hd_asprintf("%s/cdi", t->path);
        _cleanup_free_ char *prefix = cdi_claim_spec_file_prefix(DRIVER);
        static const char *const ours[] = {
                ".k8s." DRIVER "-claim_" UID1 ".json.0badf00d.tmp",
                ".k8s." DRIVER "-claim_" UID1 ".json.12345678.tmp",
        };
        static const char *const others[] = {
                ".k8s.other.example.com-claim_" UID1 ".json.0badf00d.tmp", /* another driver */
                ".k8s." DRIVER "-gpu.json.0badf00d.tmp",                   /* not a claim spec */
                "k8s." DRIVER "-claim_" UID1 ".json",                      /* the spec itself */
        };

        assert_int_equal(cdi_spec_sweep_temp(root, prefix, NULL), 0); /* missing root */
        assert_int_equal(mkdir(root, 0755), 0);
        for (size_t i = 0; i < 5; i++) {
                const char *n = i < 2 ? ours[i] : others[i - 2];
                _cleanup_free_ char *p = hd_asprintf("%s/%s", root, n);
                FILE *f = fopen(p, "w");
                assert_non_null(f);
                fclose(f);
        }
        assert_int_equal(cdi_spec_sweep_temp(root, prefix, NULL), 2);
        _cleanup_strv_ char **left = dir_names(root);
        assert_int_equal(hd_strv_len(left), 3);
        for (size_t i = 0; i < 3; i++)
                assert_true(hd_strv_contains(left, others[i]));
        assert_int_equal(cdi_spec_sweep_temp(root, prefix, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_specdir_write, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_specdir_write_capped_at_read_limit,
                                                setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_specdir_refuses_symlink, setup_tmpdir,
                                                teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_specdir_remove, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_specdir_sweep_temp, setup_tmpdir,
                                                teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_specdir_list_owned, setup_tmpdir,
                                                teardown_tmpdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
