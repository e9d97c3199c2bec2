/* config.json parsing: both transformers dialects (4.x rope_theta/rope_scaling/
 * torch_dtype, 5.x rope_parameters/dtype), defaults, and refusals for anything
 * that would change the math. */
#include "test.h"
#include "formats/hf_config.h"
#include "base/error.h"

#define BASE "\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2," \
             "\"num_attention_heads\":4,\"vocab_size\":100"

static llmc_status parse(const char *json, llmc_config *c, llmc_error *err) {
    return llmc_hf_config_parse(json, strlen(json), "test.json", c, err);
}

static void expect_err(const char *json, llmc_status code, const char *needle, int line) {
    llmc_config c;
    llmc_error err = {0};
    llmc_status st = parse(json, &c, &err);
    CHECK_MSG(st == code, "line %d: status %d (%s), expected %d", line, st, err.msg, code);
    CHECK_MSG(strstr(err.msg, "test.json") != NULL, "line %d: '%s' does not name the file", line, err.msg);
    CHECK_MSG(!needle || strstr(err.msg, needle), "line %d: '%s' lacks '%s'", line, err.msg, needle);
}
#define EXPECT_ERR(j, c, n) expect_err(j, c, n, __LINE__)

static void test_defaults_v5(void) {
    llmc_config c;
    llmc_error err = {0};
    CHECK_INT(parse("{" BASE "}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "LlamaForCausalLM");
    CHECK_INT(c.num_kv_heads, 4);
    CHECK_INT(c.head_dim, 16);
    CHECK_INT(c.max_position_embeddings, 2048);
    CHECK(fabs(c.rms_norm_eps - 1e-6) < 1e-12);
    CHECK(c.rope_theta == 10000.0 && c.rope_type == LLMC_ROPE_DEFAULT);
    CHECK(!c.tie_word_embeddings && !c.attention_bias && !c.mlp_bias);
    CHECK_INT(c.bos_token_id, -1);
    CHECK_INT(c.num_eos, 0);
    CHECK_INT(c.pad_token_id, -1);
    CHECK_INT(c.torch_dtype, LLMC_DT_F32);
    CHECK_INT(c.sliding_window, 0);

    /* 5.x: rope_parameters, dtype, explicit head_dim, eos list. */
    CHECK_INT(parse("{" BASE ",\"num_key_value_heads\":2,\"head_dim\":24,\"dtype\":\"bfloat16\",\"eos_token_id\":[7,9],"
                    "\"bos_token_id\":1,\"pad_token_id\":null,\"tie_word_embeddings\":true,\"attention_bias\":true,\"mlp_bias\":true,"
                    "\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,\"factor\":8.0,\"low_freq_factor\":1.0,"
                    "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},\"max_position_embeddings\":131072}",
                    &c, &err), LLMC_OK);
    CHECK_INT(c.num_kv_heads, 2);
    CHECK_INT(c.head_dim, 24);
    CHECK_INT(c.torch_dtype, LLMC_DT_BF16);
    CHECK_INT(c.num_eos, 2);
    CHECK(c.eos_token_ids[0] == 7 && c.eos_token_ids[1] == 9);
    CHECK_INT(c.bos_token_id, 1);
    CHECK(c.tie_word_embeddings && c.attention_bias && c.mlp_bias);
    CHECK_INT(c.rope_type, LLMC_ROPE_LLAMA3);
    CHECK(c.rope_theta == 500000.0 && c.rope_factor == 8.0 && c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0);
    CHECK_INT(c.rope_original_max_position, 8192);
    CHECK_INT(c.max_position_embeddings, 131072);
}

static void test_v4(void) {
    llmc_config c;
    llmc_error err = {0};
    /* 4.x: top-level rope_theta, rope_scaling with legacy "type", torch_dtype, eos int, head_dim null. */
    CHECK_INT(parse("{" BASE ",\"rope_theta\":250000.0,\"rope_scaling\":{\"type\":\"linear\",\"factor\":4.0},"
                    "\"torch_dtype\":\"float16\",\"eos_token_id\":2,\"head_dim\":null,\"pretraining_tp\":1}", &c, &err), LLMC_OK);
    CHECK(c.rope_theta == 250000.0);
    CHECK_INT(c.rope_type, LLMC_ROPE_LINEAR);
    CHECK(c.rope_factor == 4.0);
    CHECK_INT(c.torch_dtype, LLMC_DT_F16);
    CHECK_INT(c.num_eos, 1);
    CHECK_INT(c.eos_token_ids[0], 2);
    CHECK_INT(c.head_dim, 16);
    /* 4.x llama3 with rope_type key; rope_scaling null. */
    CHECK_INT(parse("{" BASE ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":32.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                    "\"original_max_position_embeddings\":8192},\"rope_theta\":500000.0}", &c, &err), LLMC_OK);
    CHECK_INT(c.rope_type, LLMC_ROPE_LLAMA3);
    CHECK(c.rope_theta == 500000.0 && c.rope_factor == 32.0);
    CHECK_INT(parse("{" BASE ",\"rope_scaling\":null,\"rope_theta\":1000.0}", &c, &err), LLMC_OK);
    CHECK(c.rope_type == LLMC_ROPE_DEFAULT && c.rope_theta == 1000.0);
    /* model_type fallback and Mistral's sliding window (and its bias-free layers). */
    CHECK_INT(parse("{\"model_type\":\"mistral\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                    "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"vocab_size\":100,\"sliding_window\":4096,\"attention_bias\":true}",
                    &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "MistralForCausalLM");
    CHECK_INT(c.sliding_window, 4096);
    CHECK(!c.attention_bias);
    CHECK_INT(parse("{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                    "\"num_attention_heads\":4,\"vocab_size\":100,\"sliding_window\":null}", &c, &err), LLMC_OK);
    CHECK_INT(c.sliding_window, 0);
}

static void test_refusals(void) {
    EXPECT_ERR("{\"architectures\":[\"GPT2LMHeadModel\"],\"hidden_size\":64}", LLMC_ERR_UNSUPPORTED, "GPT2LMHeadModel");
    EXPECT_ERR("{\"model_type\":\"gemma\",\"hidden_size\":64}", LLMC_ERR_UNSUPPORTED, "gemma");
    EXPECT_ERR("{" BASE ",\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}}", LLMC_ERR_UNSUPPORTED, "dynamic");
    EXPECT_ERR("{" BASE ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":2.0,\"rope_theta\":10000}}", LLMC_ERR_UNSUPPORTED, "yarn");
    EXPECT_ERR("{" BASE ",\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":10000,\"partial_rotary_factor\":0.5}}",
               LLMC_ERR_UNSUPPORTED, "partial_rotary_factor");
    EXPECT_ERR("{" BASE ",\"hidden_act\":\"gelu\"}", LLMC_ERR_UNSUPPORTED, "gelu");
    EXPECT_ERR("{" BASE ",\"quantization_config\":{\"quant_method\":\"gptq\"}}", LLMC_ERR_UNSUPPORTED, "quantization_config");
    {   /* null means "not quantized", as transformers writes it when saving a model loaded from a GGUF */
        llmc_config qc;
        llmc_error qe = {0};
        CHECK_INT(parse("{" BASE ",\"quantization_config\":null}", &qc, &qe), LLMC_OK);
    }
    EXPECT_ERR("{" BASE ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"rope_theta\":10000}}", LLMC_ERR_FORMAT,
               "low_freq_factor");
    EXPECT_ERR("{" BASE ",\"rope_scaling\":{\"type\":\"linear\"}}", LLMC_ERR_FORMAT, "factor");
    EXPECT_ERR("{" BASE ",\"rope_scaling\":{\"factor\":2.0}}", LLMC_ERR_FORMAT, "rope_type");
    EXPECT_ERR("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
               "\"vocab_size\":100}", LLMC_ERR_FORMAT, "intermediate_size");
    EXPECT_ERR("{" BASE ",\"num_key_value_heads\":3}", LLMC_ERR_FORMAT, "num_key_value_heads");
    EXPECT_ERR("{" BASE ",\"head_dim\":15}", LLMC_ERR_FORMAT, "head_dim");
    EXPECT_ERR("{" BASE ",\"hidden_size\":-4}", LLMC_ERR_FORMAT, "hidden_size");
    EXPECT_ERR("{" BASE ",\"vocab_size\":1e30}", LLMC_ERR_FORMAT, "vocab_size");
    EXPECT_ERR("{" BASE ",\"eos_token_id\":\"x\"}", LLMC_ERR_FORMAT, "eos_token_id");
    EXPECT_ERR("{" BASE ",\"eos_token_id\":[1,-2]}", LLMC_ERR_FORMAT, "eos_token_id");
    EXPECT_ERR("{" BASE ",\"tie_word_embeddings\":\"yes\"}", LLMC_ERR_FORMAT, "tie_word_embeddings");
    EXPECT_ERR("{" BASE ",\"rope_theta\":-1}", LLMC_ERR_FORMAT, "rope_theta");
    EXPECT_ERR("{" BASE ",\"architectures\":\"LlamaForCausalLM\"}", LLMC_ERR_FORMAT, "architectures");
    EXPECT_ERR("{" BASE, LLMC_ERR_FORMAT, "JSON");
    EXPECT_ERR("[1]", LLMC_ERR_FORMAT, "object");
    /* A missing file names the path. */
    llmc_config c;
    llmc_error err = {0};
    CHECK_INT(llmc_hf_config_load("/nonexistent/dir/config.json", &c, &err), LLMC_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "/nonexistent/dir/config.json") != NULL);
}

#define QBASE "\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100"

/* Qwen2: q/k/v biases whatever attention_bias says, o none; Qwen3: q/k head norms and
   attention_bias as given; a per-layer sliding window is refused, a disabled one ignored. */
static void test_qwen(void) {
    llmc_config c;
    llmc_error err = {0};
    CHECK_INT(parse("{\"architectures\":[\"Qwen2ForCausalLM\"]," QBASE ",\"sliding_window\":32,\"use_sliding_window\":false,"
                    "\"max_window_layers\":1,\"rope_theta\":1000000.0}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "Qwen2ForCausalLM");
    CHECK(c.qkv_bias && !c.attention_bias && !c.mlp_bias && !c.qk_norm);
    CHECK_INT(c.sliding_window, 0);
    CHECK_INT(c.max_position_embeddings, 32768);
    CHECK(c.rope_theta == 1000000.0);
    CHECK_INT(parse("{\"model_type\":\"qwen3\"," QBASE ",\"head_dim\":32,\"attention_bias\":true,\"layer_types\":[\"full_attention\","
                    "\"full_attention\"]}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "Qwen3ForCausalLM");
    CHECK(c.qk_norm && c.attention_bias && !c.qkv_bias && !c.mlp_bias);
    CHECK_INT(c.head_dim, 32);
    CHECK_INT(parse("{\"model_type\":\"qwen2\"," QBASE "}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "Qwen2ForCausalLM");
    EXPECT_ERR("{\"architectures\":[\"Qwen2ForCausalLM\"]," QBASE ",\"use_sliding_window\":true,\"sliding_window\":8,\"max_window_layers\":1}",
               LLMC_ERR_UNSUPPORTED, "use_sliding_window");
    EXPECT_ERR("{\"architectures\":[\"Qwen3ForCausalLM\"]," QBASE ",\"use_sliding_window\":true,\"sliding_window\":8,"
               "\"layer_types\":[\"full_attention\",\"sliding_attention\"]}", LLMC_ERR_UNSUPPORTED, "layer_types");
    /* enabled, but no layer at or past max_window_layers (28 by default): full attention everywhere */
    CHECK_INT(parse("{\"architectures\":[\"Qwen2ForCausalLM\"]," QBASE ",\"use_sliding_window\":true,\"sliding_window\":8}", &c, &err), LLMC_OK);
    /* layer_types naming sliding layers while use_sliding_window is off: transformers drops the window */
    CHECK_INT(parse("{\"architectures\":[\"Qwen3ForCausalLM\"]," QBASE ",\"sliding_window\":8,"
                    "\"layer_types\":[\"full_attention\",\"sliding_attention\"]}", &c, &err), LLMC_OK);
    EXPECT_ERR("{\"architectures\":[\"Qwen2ForCausalLM\"]," QBASE ",\"use_sliding_window\":\"yes\"}", LLMC_ERR_FORMAT, "use_sliding_window");
    /* DeepSeek-V3: DeepseekV3Config's defaults (MLA's head padded to max(nope + rope, v), rotary = rope) */
    CHECK_INT(parse("{\"architectures\":[\"DeepseekV3ForCausalLM\"]," QBASE "}", &c, &err), LLMC_OK);
    CHECK(c.mla && c.moe_sigmoid && c.num_experts == 256 && c.num_experts_per_tok == 8 && c.n_group == 8 && c.topk_group == 4);
    CHECK(c.routed_scaling_factor == 2.5 && c.norm_topk_prob && c.moe_intermediate_size == 2048 && c.shared_expert_intermediate_size == 2048);
    CHECK(c.shared_experts_plain && c.q_lora_rank == 1536 && c.kv_lora_rank == 512 && c.qk_nope_head_dim == 128 && c.v_head_dim == 128);
    CHECK(c.head_dim == 192 && c.rotary_dim == 64 && c.rope_interleave && c.num_kv_heads == 4 && fabs(c.attn_scale - 1 / sqrt(192.0)) < 1e-12);
    CHECK(!llmc_config_layer_moe(&c, 0) && !llmc_config_layer_moe(&c, 1)); /* first_k_dense_replace 3 */
#define DS "{\"model_type\":\"deepseek_v3\"," QBASE
    CHECK_INT(parse(DS ",\"q_lora_rank\":null,\"first_k_dense_replace\":1,\"n_routed_experts\":8,\"n_group\":2,\"topk_group\":1,"
                    "\"num_experts_per_tok\":2,\"n_shared_experts\":2,\"moe_intermediate_size\":16,\"v_head_dim\":200}", &c, &err), LLMC_OK);
    CHECK(c.q_lora_rank == 0 && c.num_experts == 8 && c.shared_expert_intermediate_size == 32 && c.head_dim == 200);
    CHECK(!llmc_config_layer_moe(&c, 0) && llmc_config_layer_moe(&c, 1));
    EXPECT_ERR(DS ",\"topk_group\":9}", LLMC_ERR_FORMAT, "topk_group 9");
    EXPECT_ERR(DS ",\"n_routed_experts\":8,\"n_group\":2,\"topk_group\":1,\"num_experts_per_tok\":5}", LLMC_ERR_FORMAT, "topk_group");
    EXPECT_ERR(DS ",\"n_group\":3}", LLMC_ERR_FORMAT, "n_group 3");
    EXPECT_ERR(DS ",\"kv_lora_rank\":0}", LLMC_ERR_FORMAT, "kv_lora_rank");
    EXPECT_ERR(DS ",\"qk_rope_head_dim\":7}", LLMC_ERR_FORMAT, "qk_rope_head_dim 7");
    EXPECT_ERR(DS ",\"num_key_value_heads\":2}", LLMC_ERR_UNSUPPORTED, "num_key_value_heads");
    EXPECT_ERR(DS ",\"routed_scaling_factor\":-1}", LLMC_ERR_FORMAT, "routed_scaling_factor");
    EXPECT_ERR(DS ",\"rope_scaling\":{\"rope_type\":\"dynamic\",\"factor\":4}}", LLMC_ERR_UNSUPPORTED, "dynamic");
    EXPECT_ERR(DS ",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":4}}", LLMC_ERR_UNSUPPORTED, "linear");
    /* the real DeepSeek-V3 4.x rope_scaling: YaRN, cos/sin × mscale(40, 1) / mscale(40, 1) = 1, softmax scale × mscale(40, 1)² */
    CHECK_INT(parse(DS ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":40,\"original_max_position_embeddings\":4096,"
                    "\"mscale\":1.0,\"mscale_all_dim\":1.0,\"beta_fast\":32,\"beta_slow\":1}}", &c, &err), LLMC_OK);
    {
        const double ms = 0.1 * log(40.0) + 1.0;
        CHECK(c.rope_type == LLMC_ROPE_YARN && c.rope_factor == 40 && c.rope_original_max_position == 4096 && c.yarn_truncate);
        CHECK(fabs(c.rope_attn_factor - 1.0) < 1e-12 && fabs(c.attn_scale - ms * ms / sqrt(192.0)) < 1e-12);
    }
    CHECK_INT(parse(DS ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":4,\"original_max_position_embeddings\":32}}", &c, &err),
              LLMC_OK);
    CHECK(fabs(c.rope_attn_factor - (0.1 * log(4.0) + 1.0)) < 1e-12 && fabs(c.attn_scale - 1 / sqrt(192.0)) < 1e-12);
    CHECK(c.yarn_beta_fast == 32 && c.yarn_beta_slow == 1);
    EXPECT_ERR(DS ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"original_max_position_embeddings\":32}}", LLMC_ERR_FORMAT, "factor");
    EXPECT_ERR(DS ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":-2,\"original_max_position_embeddings\":32}}", LLMC_ERR_FORMAT,
               "yarn needs");
    EXPECT_ERR("{\"model_type\":\"llama\"," QBASE ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4,"
               "\"original_max_position_embeddings\":32}}", LLMC_ERR_UNSUPPORTED, "yarn");
#undef DS
    /* Qwen3-MoE: the config class's defaults (128 experts, 8 per token, width 768, no renormalization) */
    CHECK_INT(parse("{\"architectures\":[\"Qwen3MoeForCausalLM\"]," QBASE "}", &c, &err), LLMC_OK);
    CHECK(c.num_experts == 128 && c.num_experts_per_tok == 8 && c.moe_intermediate_size == 768 && !c.norm_topk_prob && c.qk_norm);
    CHECK(llmc_config_layer_moe(&c, 0) && llmc_config_layer_moe(&c, 1));
    /* its saved name is num_local_experts (attribute_map); mlp_only_layers and decoder_sparse_step make dense layers */
    CHECK_INT(parse("{\"architectures\":[\"Qwen3MoeForCausalLM\"]," QBASE ",\"num_local_experts\":6,\"num_experts_per_tok\":2,"
                    "\"norm_topk_prob\":true,\"mlp_only_layers\":[0],\"moe_intermediate_size\":16}", &c, &err), LLMC_OK);
    CHECK(c.num_experts == 6 && c.num_experts_per_tok == 2 && c.norm_topk_prob && c.moe_intermediate_size == 16);
    CHECK(!llmc_config_layer_moe(&c, 0) && llmc_config_layer_moe(&c, 1));
    CHECK_INT(parse("{\"model_type\":\"qwen2_moe\"," QBASE ",\"num_experts\":4,\"decoder_sparse_step\":2}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "Qwen2MoeForCausalLM");
    CHECK(c.num_experts == 4 && c.num_experts_per_tok == 4 && c.shared_expert_intermediate_size == 5632 && c.qkv_bias && !c.norm_topk_prob);
    CHECK(!llmc_config_layer_moe(&c, 0) && llmc_config_layer_moe(&c, 1));
    CHECK_INT(parse("{\"model_type\":\"qwen2_moe\"," QBASE ",\"qkv_bias\":false}", &c, &err), LLMC_OK);
    CHECK(!c.qkv_bias);
    /* Mixtral: always renormalized, experts as wide as intermediate_size, a window over every layer */
    CHECK_INT(parse("{\"architectures\":[\"MixtralForCausalLM\"]," QBASE ",\"sliding_window\":64,\"norm_topk_prob\":false}", &c, &err), LLMC_OK);
    CHECK(c.num_experts == 8 && c.num_experts_per_tok == 2 && c.norm_topk_prob && c.moe_intermediate_size == 128 && c.sliding_window == 64);
    CHECK(c.max_position_embeddings == 131072 && !c.qk_norm && !c.attention_bias);
    /* OLMoE: q/k norms over the whole projections; clip_qkv refused by name */
    CHECK_INT(parse("{\"model_type\":\"olmoe\"," QBASE "}", &c, &err), LLMC_OK);
    CHECK(c.num_experts == 64 && c.num_experts_per_tok == 8 && c.qk_norm_full && !c.qk_norm && !c.norm_topk_prob && c.max_position_embeddings == 4096);
    EXPECT_ERR("{\"model_type\":\"olmoe\"," QBASE ",\"clip_qkv\":8}", LLMC_ERR_UNSUPPORTED, "clip_qkv");
    EXPECT_ERR("{\"model_type\":\"olmoe\"," QBASE ",\"num_experts\":4,\"num_experts_per_tok\":5}", LLMC_ERR_FORMAT, "num_experts_per_tok");
    EXPECT_ERR("{\"model_type\":\"olmoe\"," QBASE ",\"num_experts\":100000}", LLMC_ERR_FORMAT, "num_experts");
    EXPECT_ERR("{\"model_type\":\"qwen3_moe\"," QBASE ",\"mlp_only_layers\":[\"a\"]}", LLMC_ERR_FORMAT, "mlp_only_layers");
    EXPECT_ERR("{\"model_type\":\"qwen3_moe\"," QBASE ",\"decoder_sparse_step\":0}", LLMC_ERR_FORMAT, "decoder_sparse_step");
    EXPECT_ERR("{\"model_type\":\"deepseek_v2\"," QBASE "}", LLMC_ERR_UNSUPPORTED, "deepseek_v2");
    /* Phi-3: fused projections, a window over every layer, 4096 positions by default; LongRoPE refused by name */
    CHECK_INT(parse("{\"model_type\":\"phi3\"," QBASE ",\"sliding_window\":2047,\"attention_bias\":true}", &c, &err), LLMC_OK);
    CHECK_STR(c.architecture, "Phi3ForCausalLM");
    CHECK(c.fused_proj && c.sliding_window == 2047 && c.max_position_embeddings == 4096 && !c.attention_bias && !c.qkv_bias);
    /* LongRoPE (Phi-3.5): one factor per rotary pair; "su" is its old name; the attention factor from
       max_position_embeddings / original_max_position_embeddings (Phi3Config's own field wins) */
    EXPECT_ERR("{\"architectures\":[\"Phi3ForCausalLM\"]," QBASE ",\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1],"
               "\"long_factor\":[1]}}", LLMC_ERR_FORMAT, "short_factor must list 8 numbers");
#define F8 "[1,1.5,2,2.5,3,3.5,4,4.5]"
    CHECK_INT(parse("{\"architectures\":[\"Phi3ForCausalLM\"]," QBASE ",\"max_position_embeddings\":131072,"
                    "\"original_max_position_embeddings\":4096,\"rope_scaling\":{\"type\":\"su\",\"short_factor\":" F8 ",\"long_factor\":" F8 ","
                    "\"original_max_position_embeddings\":99}}", &c, &err), LLMC_OK);
    CHECK(c.rope_type == LLMC_ROPE_LONGROPE && c.rope_original_max_position == 4096 && c.rope_short_factor[7] == 4.5f);
    CHECK(fabs(c.rope_attn_factor - sqrt(1 + log(32.0) / log(4096.0))) < 1e-12 && llmc_config_rotary_dim(&c) == 16);
    EXPECT_ERR("{\"architectures\":[\"Phi3ForCausalLM\"]," QBASE ",\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":" F8 ","
               "\"long_factor\":[1,1,1,1,1,1,1,-1]}}", LLMC_ERR_FORMAT, "long_factor[7]");
    /* partial_rotary_factor (Phi-4-mini): int(head_dim * factor) dims rotate; refused elsewhere by name */
    CHECK_INT(parse("{\"architectures\":[\"Phi3ForCausalLM\"]," QBASE ",\"partial_rotary_factor\":0.75,\"rope_scaling\":{\"type\":\"longrope\","
                    "\"short_factor\":[1,1,1,1,1,1],\"long_factor\":[2,2,2,2,2,2],\"attention_factor\":1.25}}", &c, &err), LLMC_OK);
    CHECK(c.rotary_dim == 12 && c.rope_attn_factor == 1.25 && c.rope_original_max_position == 4096);
    EXPECT_ERR("{\"architectures\":[\"Phi3ForCausalLM\"]," QBASE ",\"partial_rotary_factor\":0.1}", LLMC_ERR_FORMAT, "partial_rotary_factor");
    EXPECT_ERR("{\"architectures\":[\"Qwen3ForCausalLM\"]," QBASE ",\"partial_rotary_factor\":0.5}", LLMC_ERR_UNSUPPORTED, "partial_rotary_factor");
    EXPECT_ERR("{\"architectures\":[\"LlamaForCausalLM\"]," QBASE ",\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":" F8 ","
               "\"long_factor\":" F8 "}}", LLMC_ERR_UNSUPPORTED, "longrope");
#undef F8

    /* Gemma 3 text, 4.x dialect: 1e6 / 10000 RoPE bases, every 6th layer full, head_dim 256 and
       query_pre_attn_scalar 256 by default, GeGLU, (1 + w) and sandwich norms, tied. */
    CHECK_INT(parse("{\"architectures\":[\"Gemma3ForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":7,"
                    "\"num_attention_heads\":4,\"vocab_size\":100,\"hidden_activation\":\"gelu_pytorch_tanh\",\"sliding_window\":512,"
                    "\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":8.0}}", &c, &err), LLMC_OK);
    CHECK(c.rope_theta == 1000000.0 && c.rope_theta_local == 10000.0 && c.rope_type == LLMC_ROPE_LINEAR && c.rope_factor == 8.0);
    CHECK(c.head_dim == 256 && fabs(c.attn_scale - 1.0 / 16) < 1e-12 && c.mlp_act == LLMC_MLP_GELU_TANH && c.norm_plus_one && c.sandwich_norms &&
          c.qk_norm && c.tie_word_embeddings && fabs(c.embed_scale - 8.0) < 1e-12 && c.max_position_embeddings == 131072);
    int slid = 0;
    for (int l = 0; l < 7; l++) slid += llmc_config_layer_sliding(&c, l);
    CHECK(slid == 6 && !llmc_config_layer_sliding(&c, 5) && llmc_config_layer_sliding(&c, 6) && c.sliding_window == 512);
    /* 5.x: rope per layer type, explicit layer types */
    CHECK_INT(parse("{\"model_type\":\"gemma3_text\"," QBASE ",\"head_dim\":16,\"layer_types\":[\"full_attention\",\"sliding_attention\"],"
                    "\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"default\",\"rope_theta\":500000.0},"
                    "\"sliding_attention\":{\"rope_type\":\"default\",\"rope_theta\":20000.0}}}", &c, &err), LLMC_OK);
    CHECK(c.rope_theta == 500000.0 && c.rope_theta_local == 20000.0 && !llmc_config_layer_sliding(&c, 0) && llmc_config_layer_sliding(&c, 1));
    EXPECT_ERR("{\"model_type\":\"gemma3_text\"," QBASE ",\"final_logit_softcapping\":30.0}", LLMC_ERR_UNSUPPORTED, "final_logit_softcapping");
    EXPECT_ERR("{\"model_type\":\"gemma3_text\"," QBASE ",\"layer_types\":[\"full_attention\"]}", LLMC_ERR_FORMAT, "layer_types");
    EXPECT_ERR("{\"model_type\":\"gemma3_text\"," QBASE ",\"hidden_activation\":\"silu\"}", LLMC_ERR_UNSUPPORTED, "silu");
    EXPECT_ERR("{\"architectures\":[\"Gemma3ForConditionalGeneration\"]," QBASE "}", LLMC_ERR_UNSUPPORTED, "Gemma3ForConditionalGeneration");
    /* Gemma 2: soft-caps (absent = 50 / 30, null = none), every other layer sliding, one RoPE, no q/k norms */
    CHECK_INT(parse("{\"architectures\":[\"Gemma2ForCausalLM\"]," QBASE ",\"num_hidden_layers\":3,\"head_dim\":16,\"final_logit_softcapping\":null}", &c,
                    &err), LLMC_OK);
    CHECK(c.attn_softcap == 50.0 && c.final_softcap == 0 && !c.qk_norm && c.sandwich_norms && c.rope_theta_local == 0 && c.rope_theta == 10000.0);
    CHECK(llmc_config_layer_sliding(&c, 0) && !llmc_config_layer_sliding(&c, 1) && llmc_config_layer_sliding(&c, 2) && c.max_position_embeddings == 8192);
    EXPECT_ERR("{\"model_type\":\"gemma2\"," QBASE ",\"attn_logit_softcapping\":\"x\"}", LLMC_ERR_FORMAT, "attn_logit_softcapping");
    /* SmolLM3: every 4th layer without RoPE by default; windows only with use_sliding_window, on those layers */
    CHECK_INT(parse("{\"architectures\":[\"SmolLM3ForCausalLM\"]," QBASE ",\"num_hidden_layers\":8}", &c, &err), LLMC_OK);
    CHECK(c.has_nope && c.tie_word_embeddings && c.sliding_window == 0 && !c.per_layer_window);
    CHECK(llmc_config_layer_rope(&c, 0) && !llmc_config_layer_rope(&c, 3) && llmc_config_layer_rope(&c, 4) && !llmc_config_layer_rope(&c, 7));
    CHECK_INT(parse("{\"model_type\":\"smollm3\"," QBASE ",\"no_rope_layers\":[1,0],\"use_sliding_window\":true,\"sliding_window\":64}", &c,
                    &err), LLMC_OK);
    CHECK(!llmc_config_layer_rope(&c, 1) && llmc_config_layer_sliding(&c, 1) && !llmc_config_layer_sliding(&c, 0) && c.sliding_window == 64);
    EXPECT_ERR("{\"model_type\":\"smollm3\"," QBASE ",\"no_rope_layers\":[1,2]}", LLMC_ERR_FORMAT, "no_rope_layers[1]");
    EXPECT_ERR("{\"model_type\":\"smollm3\"," QBASE ",\"no_rope_layers\":[1]}", LLMC_ERR_FORMAT, "no_rope_layers");
}

static void test_fixtures(void) {
    /* The committed golden checkpoints in both dialects parse to what they describe. */
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    char p[1024];
    llmc_config c;
    llmc_error err = {0};
    snprintf(p, sizeof p, "%s/tests/golden/core/llama_hd_bias_linear_f16", src);
    CHECK_INT(llmc_hf_config_load(p, &c, &err), LLMC_OK);
    CHECK(c.head_dim == 16 && c.hidden_size == 32 && c.attention_bias && c.mlp_bias && c.rope_type == LLMC_ROPE_LINEAR &&
          c.rope_factor == 2.0 && c.torch_dtype == LLMC_DT_F16);
    snprintf(p, sizeof p, "%s/tests/golden/core/llama3_rope_sharded_f32/config.json", src);
    CHECK_INT(llmc_hf_config_load(p, &c, &err), LLMC_OK);
    CHECK(c.rope_type == LLMC_ROPE_LLAMA3 && c.rope_original_max_position == 32 && c.num_kv_heads == 1);
}

int main(void) {
    test_defaults_v5();
    test_v4();
    test_refusals();
    test_qwen();
    test_fixtures();
    return test_summary();
}
