/* SPDX-License-Identifier: Apache-2.0 */
/* Cleanups for libyaml's stack-held parser and document, kept out of base/cleanup.h so that
 * only the users of YAML see <yaml.h>. */
#pragma once

#include <yaml.h>

#include "base/cleanup.h"

static inline void hd_yaml_parser_donep(yaml_parser_t **p)
{
        if (*p)
                yaml_parser_delete(*p);
}

static inline void hd_yaml_document_donep(yaml_document_t **p)
{
        if (*p)
                yaml_document_delete(*p);
}

/* For a pointer to an initialised, stack-held parser/document: yaml_parser_t p; yaml_parser_t
 * *pp _cleanup_yaml_parser_ = NULL; yaml_parser_initialize(&p); pp = &p; */
#define _cleanup_yaml_parser_ _cleanup_(hd_yaml_parser_donep)
#define _cleanup_yaml_document_ _cleanup_(hd_yaml_document_donep)
