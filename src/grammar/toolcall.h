/* Tool calling, library part: parse a model's tool calls out of its reply, per template
 * family, and build the grammar that forces a call (tool_choice "required" or a named
 * function) from the tools' parameter schemas in the family's call format.
 *   llama3  — the reply is {"name": ..., "parameters": {...}} (an optional <|python_tag|>;
 *             several calls separated by ';')
 *   hermes  — Hermes / Qwen: <tool_call>{"name": ..., "arguments": {...}}</tool_call>, repeatable
 *   mistral — [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] (also [TOOL_CALLS]name[ARGS]{...});
 *             [TOOL_CALLS] is a control token, so decoded text usually starts at the '['. */
#ifndef LLMC_GRAMMAR_TOOLCALL_H
#define LLMC_GRAMMAR_TOOLCALL_H
#include "llmc.h"
#include "tokenizer/tokenizer.h"

typedef enum { LLMC_TOOLS_LLAMA3 = 0, LLMC_TOOLS_HERMES, LLMC_TOOLS_MISTRAL } llmc_tool_format;

/* "llama3", "hermes", "mistral" → format; false when unknown. */
bool llmc_tool_format_parse(const char *name, llmc_tool_format *out);
const char *llmc_tool_format_name(llmc_tool_format f);
/* The format a tokenizer's vocabulary implies: <tool_call> → hermes, [TOOL_CALLS] → mistral,
 * else llama3 (plain JSON, what a model without a tool format copes with best). */
llmc_tool_format llmc_tool_format_for(const llmc_tokenizer *t);

/* Finds the calls in reply (any of the three formats). *calls: a malloc'd JSON array of
 * {"name": string, "arguments": object}, NULL when the reply has no call; *content: the
 * reply's text outside the calls (malloc'd, maybe ""). A call-shaped but malformed block is
 * LLMC_ERR_FORMAT naming it. */
llmc_status llmc_tool_calls_parse(const char *reply, char **calls, char **content, llmc_error *err);

/* GBNF forcing one call (hermes: up to 4; mistral: an array of 1–4) to a tool in tools_json
 * (OpenAI's [{"type": "function", "function": {"name", "parameters"}}] or bare
 * {"name", "parameters"} items); only_name: just that function (NULL: any). Errors name
 * the tool's schema path ("$[1].function.parameters.properties.x.type"). */
llmc_status llmc_tool_grammar(llmc_tool_format f, const char *tools_json, const char *only_name, char **gbnf, llmc_error *err);

#endif
