/* Tool calls in the public API (include/llmc.h): the grammar module's parser and call grammar
 * (grammar/toolcall.h), the call format taken from the pipeline's vocabulary. */
#include "pipeline/pipeline_internal.h"
#include "grammar/toolcall.h"
#include "base/error.h"

llmc_status llmc_parse_tool_calls(const char *reply, char **calls_json, char **content, llmc_error *err) {
    if (calls_json) *calls_json = NULL;
    if (content) *content = NULL;
    if (!reply || !calls_json || !content) return llmc_err(err, LLMC_ERR_INVALID_ARG, "parse_tool_calls: a reply and room for the calls and the content are needed");
    return llmc_tool_calls_parse(reply, calls_json, content, err);
}

llmc_status llmc_pipeline_tool_grammar(const llmc_pipeline *p, const char *tools_json, const char *function, char **gbnf, llmc_error *err) {
    if (gbnf) *gbnf = NULL;
    if (!p || !tools_json || !gbnf) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tool_grammar: a pipeline, tools and room for the grammar are needed");
    return llmc_tool_grammar(llmc_tool_format_for(llmc_pipeline_tokenizer(p)), tools_json, function, gbnf, err);
}
