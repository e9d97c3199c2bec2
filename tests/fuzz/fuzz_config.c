/* libFuzzer harness: a model's config.json, then (after FZ_SEP) its generation_config.json:
 * llmc_hf_config_parse, llmc_gen_config_parse, and resolving generation settings from both. */
#include "fuzz_common.h"
#include "formats/hf_config.h"
#include "generate/gen_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_tmpdir();
    fz_parts fp;
    fz_split(data, size, &fp);
    llmc_error err;
    llmc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    bool have_cfg = llmc_hf_config_parse(fp.p[0], fp.n[0], "config.json", &cfg, &err) == LLMC_OK;
    llmc_gen_config g;
    llmc_gen_config_default(&g);
    if (fp.count > 1 && llmc_gen_config_parse(fp.p[1], fp.n[1], "generation_config.json", &g, &err) == LLMC_OK) {
        llmc_gen_config out;
        int max_pos = have_cfg ? (int)cfg.max_position_embeddings : 0;
        llmc_gen_config_resolve(&g, NULL, true, 7, max_pos, &out);
        llmc_gen_config_resolve(&g, &g, false, 0, max_pos, &out);
    }
    return 0;
}
