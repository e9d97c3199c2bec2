/* Hugging Face config.json → llmc_config, for the Llama family (LlamaForCausalLM,
 * MistralForCausalLM, and Qwen2ForCausalLM / Qwen3ForCausalLM: Llama with q/k/v biases,
 * or with per-head q/k RMSNorm; Phi3ForCausalLM: fused qkv and gate|up projections). Reads both dialects: transformers 4.x (rope_theta +
 * rope_scaling, torch_dtype) and 5.x (rope_parameters, dtype). Anything that
 * would change the math and is not implemented is an error, never ignored. */
#ifndef LLMC_FORMATS_HF_CONFIG_H
#define LLMC_FORMATS_HF_CONFIG_H
#include "llmc.h"
#include "formats/config.h"

/* json: len bytes (need not be NUL-terminated); what names the source in errors. */
llmc_status llmc_hf_config_parse(const char *json, size_t len, const char *what, llmc_config *cfg, llmc_error *err);
/* path: a config.json file, or a directory holding one. */
llmc_status llmc_hf_config_load(const char *path, llmc_config *cfg, llmc_error *err);

#endif
