"""llmc for Python: transformers' text-generation pipeline on llmc's C engine, without torch.

    from llmc import pipeline
    pipe = pipeline("text-generation", model="meta-llama/Llama-3.2-3B-Instruct",
                    dtype="bfloat16", device_map="auto", token=hf_token)
    out = pipe(messages, max_new_tokens=256)
    print(out[0]["generated_text"][-1]["content"])
"""
import ctypes

from ._lib import (AuthError, CancelledError, DeviceError, Error, FormatError, InvalidArgumentError, IOFailure,
                   NetworkError, NotFoundError, OutOfMemoryError, RangeError, TemplateError, UnsupportedError, lib,
                   raise_for)
from ._lib import CError as _CError
from .pipeline import TextGenerationPipeline, Tokenizer, bfloat16, float16, float32, pipeline
from .streamers import TextIteratorStreamer, TextStreamer

__version__ = lib.llmc_shared_version().decode()


def login(token):
    """Stores a Hub access token where huggingface_hub reads it ($HF_HOME/token), as huggingface_hub.login.
    HF_TOKEN in the environment works too, without a login."""
    err = _CError()
    raise_for(lib.llmc_login(str(token).encode(), ctypes.byref(err)), err)


__all__ = ["pipeline", "TextGenerationPipeline", "Tokenizer", "TextStreamer", "TextIteratorStreamer", "login",
           "bfloat16", "float16", "float32", "Error", "InvalidArgumentError", "FormatError", "UnsupportedError",
           "OutOfMemoryError", "RangeError", "TemplateError", "NetworkError", "AuthError", "NotFoundError",
           "CancelledError", "DeviceError", "IOFailure", "__version__"]
