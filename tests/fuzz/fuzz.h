/* SPDX-License-Identifier: Apache-2.0 */
/* Every fuzz target defines this libFuzzer entry point; replay_main.c drives it from saved
 * corpora (and deterministic mutations of them) as an ordinary ctest. The same files build with
 * clang -fsanitize=fuzzer for real fuzzing. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
