/* safetensors reader: one file, or a Hugging Face model directory with
 * model.safetensors or model.safetensors.index.json + shards. Tensors are views
 * into read-only mmaps attached to the returned set; every header is validated
 * as untrusted input (bounds, overlaps, sizes, names) before any view is made. */
#ifndef LLMC_FORMATS_SAFETENSORS_H
#define LLMC_FORMATS_SAFETENSORS_H
#include "llmc.h"
#include "formats/tensor.h"

/* path_or_dir: a .safetensors file, a *.index.json file, or a directory holding
 * model.safetensors (preferred, as in transformers) or model.safetensors.index.json. */
llmc_status llmc_safetensors_load(const char *path_or_dir, llmc_tensor_set **out, llmc_error *err);

/* Largest JSON header accepted (the reference implementation's limit). */
#define LLMC_ST_MAX_HEADER (100u * 1024u * 1024u)

#endif
