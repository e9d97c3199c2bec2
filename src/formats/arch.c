/* The architecture table (formats/arch.h): every family llmc runs, one row each. */
#include "formats/arch.h"
#include <stdio.h>
#include <string.h>

#define CPU LLMC_BACKEND_CPU
#define CUDA (LLMC_BACKEND_CPU | LLMC_BACKEND_CUDA)

/* Defaults are those of each family's transformers config class (5.23). */
static const llmc_arch g_arch[LLMC_FAM_COUNT] = {
    {LLMC_FAM_LLAMA, "LlamaForCausalLM", "llama", "llama", "Llama", 2048, 0, false, true, LLMC_ARCH_ATTN_BIAS_FIELD | LLMC_ARCH_MLP_BIAS_FIELD, CUDA, NULL},
    {LLMC_FAM_MISTRAL, "MistralForCausalLM", "mistral", NULL, "Mistral", 131072, 0, false, true, LLMC_ARCH_WINDOW_ALL, CUDA, NULL},
    {LLMC_FAM_QWEN2, "Qwen2ForCausalLM", "qwen2", "qwen2", "Qwen2", 32768, 0, false, false, LLMC_ARCH_QKV_BIAS | LLMC_ARCH_QWEN_WINDOW, CUDA,
     NULL},
    {LLMC_FAM_QWEN3, "Qwen3ForCausalLM", "qwen3", "qwen3", "Qwen3", 32768, 0, false, false,
     LLMC_ARCH_QK_NORM | LLMC_ARCH_ATTN_BIAS_FIELD | LLMC_ARCH_QWEN_WINDOW, CUDA, NULL},
    {LLMC_FAM_PHI3, "Phi3ForCausalLM", "phi3", "phi3", "Phi-3", 4096, 0, false, true,
     LLMC_ARCH_FUSED_PROJ | LLMC_ARCH_WINDOW_ALL | LLMC_ARCH_LONGROPE, CUDA, NULL},
    {LLMC_FAM_GEMMA2, "Gemma2ForCausalLM", "gemma2", "gemma2", "Gemma 2", 8192, 256, true, false, LLMC_ARCH_GEMMA | LLMC_ARCH_ATTN_BIAS_FIELD, CPU,
     "GeGLU, sandwich norms, soft-capping and per-layer windows"},
    {LLMC_FAM_GEMMA3, "Gemma3ForCausalLM", "gemma3_text", "gemma3", "Gemma 3", 131072, 256, true, false,
     LLMC_ARCH_GEMMA | LLMC_ARCH_QK_NORM | LLMC_ARCH_ATTN_BIAS_FIELD, CPU, "GeGLU, sandwich norms and per-layer windows and RoPE"},
    {LLMC_FAM_SMOLLM3, "SmolLM3ForCausalLM", "smollm3", "smollm3", "SmolLM3", 32768, 0, true, true, LLMC_ARCH_NOPE | LLMC_ARCH_ATTN_BIAS_FIELD | LLMC_ARCH_MLP_BIAS_FIELD, CPU,
     "layers without RoPE"},
    {LLMC_FAM_MIXTRAL, "MixtralForCausalLM", "mixtral", NULL, "Mixtral", 131072, 0, false, true, LLMC_ARCH_MOE | LLMC_ARCH_WINDOW_ALL, CPU,
     "mixture-of-experts layers"},
    {LLMC_FAM_QWEN2_MOE, "Qwen2MoeForCausalLM", "qwen2_moe", "qwen2moe", "Qwen2-MoE", 32768, 0, false, false,
     LLMC_ARCH_MOE | LLMC_ARCH_QKV_BIAS | LLMC_ARCH_QWEN_WINDOW | LLMC_ARCH_SHARED_EXPERT, CPU, "mixture-of-experts layers"},
    {LLMC_FAM_QWEN3_MOE, "Qwen3MoeForCausalLM", "qwen3_moe", "qwen3moe", "Qwen3-MoE", 32768, 0, false, false,
     LLMC_ARCH_MOE | LLMC_ARCH_QK_NORM | LLMC_ARCH_ATTN_BIAS_FIELD | LLMC_ARCH_QWEN_WINDOW, CPU, "mixture-of-experts layers"},
    {LLMC_FAM_OLMOE, "OlmoeForCausalLM", "olmoe", "olmoe", "OLMoE", 4096, 0, false, false, LLMC_ARCH_MOE | LLMC_ARCH_QK_NORM_FULL | LLMC_ARCH_ATTN_BIAS_FIELD,
     CPU, "mixture-of-experts layers"},
    {LLMC_FAM_DEEPSEEK_V3, "DeepseekV3ForCausalLM", "deepseek_v3", NULL, "DeepSeek-V3", 4096, 0, false, false,
     LLMC_ARCH_MOE | LLMC_ARCH_MLA | LLMC_ARCH_ATTN_BIAS_FIELD, CPU, "Multi-head Latent Attention and mixture-of-experts layers"},
};

const llmc_arch *llmc_arch_by_family(llmc_family f) { return (unsigned)f < LLMC_FAM_COUNT ? &g_arch[f] : NULL; }

static const llmc_arch *arch_find(const char *s, size_t field) {
    if (!s) return NULL;
    for (int i = 0; i < LLMC_FAM_COUNT; i++) {
        const char *v = *(const char *const *)((const char *)&g_arch[i] + field);
        if (v && strcmp(v, s) == 0) return &g_arch[i];
    }
    return NULL;
}

const llmc_arch *llmc_arch_by_hf(const char *s) { return arch_find(s, offsetof(llmc_arch, hf_arch)); }
const llmc_arch *llmc_arch_by_model_type(const char *s) { return arch_find(s, offsetof(llmc_arch, model_type)); }
const llmc_arch *llmc_arch_by_gguf(const char *s) { return arch_find(s, offsetof(llmc_arch, gguf_arch)); }

bool llmc_arch_cuda_declines(const llmc_config *c, char *why, size_t n) {
    const llmc_arch *a = llmc_arch_by_hf(c->architecture);
    if (!a) snprintf(why, n, "'%.64s' (not in the architecture table)", c->architecture);
    else if (!llmc_arch_runs_on(a, LLMC_BACKEND_CUDA)) snprintf(why, n, "%s (%s)", a->label, a->cuda_missing ? a->cuda_missing : "CPU only");
    else if (c->rope_type == LLMC_ROPE_LONGROPE) snprintf(why, n, "%s with LongRoPE", a->label);
    else if (c->rope_type == LLMC_ROPE_YARN) snprintf(why, n, "%s with YaRN", a->label);
    else if (llmc_config_rotary_dim(c) != c->head_dim) snprintf(why, n, "%s with partial rotary embeddings", a->label);
    else return false;
    return true;
}

const char *llmc_arch_names(int which, char *buf, size_t n) {
    size_t field = which == 0 ? offsetof(llmc_arch, hf_arch) : which == 1 ? offsetof(llmc_arch, model_type) : offsetof(llmc_arch, gguf_arch);
    size_t at = 0;
    if (!n) return buf;
    buf[0] = 0;
    for (int i = 0; i < LLMC_FAM_COUNT; i++) {
        const char *v = *(const char *const *)((const char *)&g_arch[i] + field);
        if (!v) continue;
        int w = snprintf(buf + at, n - at, "%s%s", at ? ", " : "", v);
        if (w < 0 || (size_t)w >= n - at) break;
        at += (size_t)w;
    }
    return buf;
}
