"""llmc.pipeline: transformers' text-generation pipeline, with its arguments and return values, run
by llmc's C engine. `from llmc import pipeline` is the one change a tutorial needs."""
import ctypes
import json
import os
import signal
import sys
import threading

from . import _lib
from ._lib import lib, raise_for, take_json, take_string
from .streamers import BaseStreamer


class _DType:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"llmc.{self.name}"


bfloat16, float16, float32 = _DType("bfloat16"), _DType("float16"), _DType("float32")
_DTYPES = {"auto": "auto", "bfloat16": "bf16", "bf16": "bf16", "float16": "f16", "half": "f16", "fp16": "f16", "f16": "f16",
           "float32": "f32", "float": "f32", "fp32": "f32", "f32": "f32"}


def _dtype_arg(dtype):
    if dtype is None:
        return "auto"
    if isinstance(dtype, _DType):
        return _DTYPES[dtype.name]
    name = str(dtype)  # torch.bfloat16 prints as "torch.bfloat16": torch itself is never imported
    if name.startswith("torch."):
        name = name[len("torch."):]
    if name in _DTYPES:
        return _DTYPES[name]
    raise ValueError(f"llmc: dtype {dtype!r} is not supported (use 'auto', 'bfloat16', 'float16' or 'float32', "
                     f"llmc.bfloat16 and the like, or the torch dtypes of those)")


def _device_arg(device_map, device):
    if device_map is not None and device is not None:
        raise ValueError("llmc: give device_map or device, not both")
    d = device_map if device_map is not None else device
    if d is None:
        return "auto"  # llmc's default: the GPU when one is usable, else the CPU
    if isinstance(d, bool):
        raise ValueError(f"llmc: device {d!r} is not a device")
    if isinstance(d, int):
        return "cpu" if d < 0 else f"cuda:{d}"
    s = str(d)  # torch.device("cuda:0") prints as cuda:0
    if s == "auto" or s == "cpu" or s == "cuda" or (s.startswith("cuda:") and s[5:].isdigit()):
        return s
    if isinstance(d, dict):
        raise ValueError("llmc: a per-layer device_map dict is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:N' "
                         "(llmc splits layers between GPU and CPU by itself)")
    raise ValueError(f"llmc: device_map {d!r} is not supported (use 'auto', 'cpu', 'cuda', 'cuda:N' or an index)")


class _Progress:
    """Download and loading progress: tqdm's bars when tqdm is installed (notebook bars in Jupyter and
    Colab), else one line on stderr redrawn in place."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm  # noqa: PLC0415 - optional
        except Exception:  # noqa: BLE001
            tqdm = None
        self.tqdm = tqdm
        self.bars = {}
        self.lock = threading.Lock()
        self.fn = _lib.PROGRESS_FN(self._on)

    def _on(self, user, what, done, total, finished):
        try:
            name = what.decode("utf-8", "replace") if what else ""
            with self.lock:
                if self.tqdm is not None:
                    bar = self.bars.get(name)
                    if bar is None and not (finished and total == 0):
                        bar = self.bars[name] = self.tqdm(total=total or None, desc=name, unit="B", unit_scale=True,
                                                          leave=True)
                    if bar is not None:
                        bar.update(max(0, done - bar.n))
                        if finished:
                            bar.close()
                            del self.bars[name]
                elif sys.stderr.isatty() or finished:
                    pct = 100.0 * done / total if total else 100.0
                    end = "\n" if finished else ""
                    sys.stderr.write(f"\r{name[:40]:40} {pct:5.1f}% {done / 1e6:9.1f} MB{end}")
                    sys.stderr.flush()
        except Exception:  # noqa: BLE001 - progress must never break a download
            pass


class _Interrupt:
    """Ctrl-C (or a notebook's stop button) during generation: the engine polls `flag` between
    tokens, so the C call returns promptly; KeyboardInterrupt is raised once it has."""

    def __init__(self):
        self.flag = ctypes.c_int(0)
        self.hit = False
        self.old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._on)
        return self

    def _on(self, signum, frame):
        self.hit = True
        self.flag.value = 1

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


class Tokenizer:
    """pipe.tokenizer: the subset of transformers' tokenizer that tutorials use. It agrees exactly with
    `llmc tokenize`, `llmc detokenize` and `llmc template`."""

    def __init__(self, pipe):
        self._pipe = pipe
        err = _lib.CError()
        out = ctypes.c_void_p()
        raise_for(lib.llmc_pipeline_tokenizer_info(pipe._h, ctypes.byref(out), ctypes.byref(err)), err)
        info = take_json(out)
        self.bos_token, self.bos_token_id = info["bos_token"], info["bos_token_id"]
        self.eos_token, self.eos_token_id = info["eos_token"], info["eos_token_id"]
        self.unk_token, self.unk_token_id = info["unk_token"], info["unk_token_id"]
        self.pad_token, self.pad_token_id = info["pad_token"], info["pad_token_id"]
        self.vocab_size = info["vocab_size"]
        self.chat_template = info["chat_template"]

    def __len__(self):
        return self.vocab_size

    def encode(self, text, add_special_tokens=True):
        b = text.encode("utf-8")
        err, ids, n = _lib.CError(), ctypes.POINTER(ctypes.c_int32)(), ctypes.c_size_t()
        raise_for(lib.llmc_pipeline_encode(self._pipe._h, b, len(b), bool(add_special_tokens), ctypes.byref(ids),
                                           ctypes.byref(n), ctypes.byref(err)), err)
        try:
            return [ids[i] for i in range(n.value)]
        finally:
            lib.llmc_free(ctypes.cast(ids, ctypes.c_void_p))

    def decode(self, token_ids, skip_special_tokens=False):
        ids = [int(t) for t in token_ids]
        arr = (ctypes.c_int32 * max(1, len(ids)))(*ids)
        err, out = _lib.CError(), ctypes.c_void_p()
        raise_for(lib.llmc_pipeline_decode(self._pipe._h, arr, len(ids), bool(skip_special_tokens), ctypes.byref(out),
                                           ctypes.byref(err)), err)
        return take_string(out)

    def __call__(self, text, add_special_tokens=True, **kwargs):
        if kwargs:
            raise TypeError(f"llmc tokenizer: unsupported arguments {sorted(kwargs)}")
        if isinstance(text, (list, tuple)):
            ids = [self.encode(t, add_special_tokens) for t in text]
            return {"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]}
        ids = self.encode(text, add_special_tokens)
        return {"input_ids": ids, "attention_mask": [1] * len(ids)}

    def apply_chat_template(self, conversation, tools=None, tokenize=True, add_generation_prompt=False, **kwargs):
        if kwargs:
            raise TypeError(f"llmc apply_chat_template: unsupported arguments {sorted(kwargs)}")
        err, out = _lib.CError(), ctypes.c_void_p()
        tj = json.dumps(tools, ensure_ascii=False).encode() if tools is not None else None
        raise_for(lib.llmc_pipeline_apply_template(self._pipe._h, json.dumps(conversation, ensure_ascii=False).encode(), tj,
                                                   bool(add_generation_prompt), ctypes.byref(out), ctypes.byref(err)), err)
        text = take_string(out)
        return self.encode(text, add_special_tokens=False) if tokenize else text


_GEN_KEYS = ("max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "seed",
             "stop_strings", "ignore_eos")


class TextGenerationPipeline:
    """What llmc.pipeline("text-generation", ...) returns; call it as transformers' pipeline."""

    def __init__(self, model, dtype="auto", device="auto", token=None, revision=None, n_threads=0, max_context=0):
        opts = {"model": os.fspath(model), "dtype": dtype, "device": device}
        if token:
            opts["token"] = token
        if revision:
            opts["revision"] = revision
        if n_threads:
            opts["n_threads"] = int(n_threads)
        if max_context:
            opts["max_context"] = int(max_context)
        self._progress = _Progress()
        err, h = _lib.CError(), ctypes.c_void_p()
        raise_for(lib.llmc_pipeline_create_json(json.dumps(opts).encode(), self._progress.fn, None, ctypes.byref(h),
                                                ctypes.byref(err)), err)
        self._h = h
        self._lock = threading.Lock()  # one generation at a time on one pipeline (its KV cache)
        self.model = opts["model"]
        self.tokenizer = Tokenizer(self)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h:
            lib.llmc_pipeline_free(h)
            self._h = None

    def _generate(self, messages, text, gen, streamer):
        request = {k: v for k, v in gen.items() if v is not None}
        if text is not None:
            request["text"] = text
        if streamer is not None:
            streamer.put_prompt(text if text is not None else
                                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        failure = []

        def on_text(user, piece, n):
            try:
                if streamer is not None:
                    streamer.put_text(ctypes.string_at(piece, n).decode("utf-8"))
            except BaseException as e:  # noqa: BLE001 - raised again below, after the C call returns
                failure.append(e)
                return 1
            return 0

        cb = _lib.TEXT_FN(on_text)  # always given: Python runs its signal handlers in it, token by token
        err, out = _lib.CError(), ctypes.c_void_p()
        mj = json.dumps(messages, ensure_ascii=False).encode() if messages is not None else None
        with self._lock, _Interrupt() as stop:
            st = lib.llmc_pipeline_generate_json(self._h, mj, None, json.dumps(request, ensure_ascii=False).encode(), cb, None,
                                                 ctypes.byref(stop.flag), ctypes.byref(out), ctypes.byref(err))
        if streamer is not None:
            streamer.end()
        if stop.hit:
            if out:
                lib.llmc_free(out)
            raise KeyboardInterrupt
        if failure:
            if out:
                lib.llmc_free(out)
            raise failure[0]
        raise_for(st, err)
        return take_json(out)

    def __call__(self, inputs, *, max_new_tokens=None, do_sample=None, temperature=None, top_p=None, top_k=None,
                 min_p=None, repetition_penalty=None, stop_strings=None, seed=None, streamer=None, return_full_text=True,
                 ignore_eos=None, tokenizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"llmc pipeline: unsupported generation arguments {sorted(kwargs)} "
                            f"(supported: {', '.join(_GEN_KEYS)}, streamer, return_full_text)")
        if streamer is not None and not isinstance(streamer, BaseStreamer):
            raise TypeError("llmc pipeline: streamer must be llmc.TextStreamer or llmc.TextIteratorStreamer")
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        gen = {"max_new_tokens": max_new_tokens, "do_sample": None if do_sample is None else bool(do_sample),
               "temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p,
               "repetition_penalty": repetition_penalty, "seed": seed, "stop_strings": stop_strings,
               "ignore_eos": ignore_eos}
        if _is_conversation(inputs):
            return [self._chat(inputs, gen, streamer, return_full_text)]
        if isinstance(inputs, str):
            return [self._text(inputs, gen, streamer, return_full_text)]
        if isinstance(inputs, (list, tuple)) and inputs and all(_is_conversation(c) or isinstance(c, str) for c in inputs):
            # a list of inputs: one result list per input, as transformers returns them; decoded
            # together on the multi-sequence engine unless a streamer wants one reply at a time
            if streamer is None and len(inputs) > 1:
                return [[r] for r in self._batch(list(inputs), gen, return_full_text)]
            return [[self._chat(c, gen, streamer, return_full_text)] if _is_conversation(c)
                    else [self._text(c, gen, streamer, return_full_text)] for c in inputs]
        raise TypeError("llmc pipeline: inputs must be a string, a conversation (a list of {'role', 'content'} dicts), "
                        "or a list of those")

    def _batch(self, inputs, gen, return_full_text):
        """Every input at once (llmc_pipeline_generate_batch_json); the call runs on a helper thread so
        that Ctrl-C in the main thread cancels it; the first failed input's error is raised."""
        request = {k: v for k, v in gen.items() if v is not None}
        n = len(inputs)
        convs = [[dict(m) for m in c] if _is_conversation(c) else None for c in inputs]
        msgs = (ctypes.c_char_p * n)(*[json.dumps(c, ensure_ascii=False).encode() if c is not None else None for c in convs])
        texts = (ctypes.c_char_p * n)(*[c.encode() if isinstance(c, str) else None for c in inputs])
        err, out, flag, done = _lib.CError(), ctypes.c_void_p(), ctypes.c_int(0), []

        def call():
            done.append(lib.llmc_pipeline_generate_batch_json(self._h, n, msgs, texts, json.dumps(request, ensure_ascii=False).encode(),
                                                              ctypes.byref(flag), ctypes.byref(out), ctypes.byref(err)))

        with self._lock:
            t = threading.Thread(target=call, name="llmc-batch", daemon=True)
            t.start()
            try:
                while t.is_alive():
                    t.join(0.05)
            except KeyboardInterrupt:
                flag.value = 1
                t.join()
                if out:
                    lib.llmc_free(out)
                raise
        results = take_json(out) if out else None
        if results is None:
            raise_for(done[0] if done else 1, err)
        for r in results:
            if "error" in r:
                raise _lib._BY_CODE.get(r["error"]["code"], _lib.Error)(r["error"]["message"])
        return [self._chat_result(c, r, return_full_text) if c is not None else
                {"generated_text": inputs[i] + r["text"] if return_full_text else r["text"]}
                for i, (c, r) in enumerate(zip(convs, results))]

    @staticmethod
    def _chat_result(messages, r, return_full_text):
        if messages[-1].get("role") == "assistant":  # continue_final_message, as transformers does
            out = [dict(m) for m in messages]
            out[-1]["content"] = out[-1].get("content", "") + r["text"]
        else:
            out = messages + [{"role": "assistant", "content": r["text"]}]
        return {"generated_text": out if return_full_text else r["text"]}

    def _chat(self, messages, gen, streamer, return_full_text):
        messages = [dict(m) for m in messages]
        return self._chat_result(messages, self._generate(messages, None, gen, streamer), return_full_text)

    def _text(self, text, gen, streamer, return_full_text):
        r = self._generate(None, text, gen, streamer)
        return {"generated_text": text + r["text"] if return_full_text else r["text"]}


def _is_conversation(x):
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(m, dict) and "role" in m for m in x)


def pipeline(task="text-generation", model=None, *, dtype=None, torch_dtype=None, device_map=None, device=None,
             token=None, revision=None, trust_remote_code=None, model_kwargs=None, quantization_config=None,
             n_threads=0, max_context=0, **kwargs):
    """llmc's transformers.pipeline("text-generation", ...). model: a Hub id (org/name, org/name:QUANT for
    a GGUF repo), a model directory or a .gguf file."""
    if task != "text-generation":
        raise ValueError(f"llmc: task {task!r} is not supported; llmc runs 'text-generation'")
    if model is None:
        raise ValueError("llmc: model is required (a Hub id, a model directory or a .gguf file)")
    if trust_remote_code:
        raise ValueError("llmc: trust_remote_code=True is not supported: llmc runs its own implementation of each "
                         "model family and never executes a repository's Python code")
    if quantization_config is not None or (model_kwargs and "quantization_config" in model_kwargs):
        raise ValueError("llmc: quantization configs (bitsandbytes, GPTQ, AWQ) are not supported; use a GGUF file "
                         "(org/name-GGUF:Q4_K_M) for quantized weights")
    if model_kwargs:
        raise ValueError(f"llmc: model_kwargs {sorted(model_kwargs)} are not supported")
    if kwargs:
        raise TypeError(f"llmc pipeline: unsupported arguments {sorted(kwargs)}")
    if dtype is not None and torch_dtype is not None:
        raise ValueError("llmc: give dtype or torch_dtype, not both")
    return TextGenerationPipeline(model, dtype=_dtype_arg(dtype if dtype is not None else torch_dtype),
                                  device=_device_arg(device_map, device), token=token, revision=revision,
                                  n_threads=n_threads, max_context=max_context)
