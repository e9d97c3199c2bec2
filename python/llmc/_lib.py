"""ctypes binding of libllmc (include/llmc.h): the library, its prototypes, errors as exceptions,
and the log callback routed to Python's logging. Everything crosses as JSON or plain C types, so
this file mirrors no C struct beyond llmc_error."""
import ctypes
import json
import logging
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_ERROR_MSG_MAX = 1024
logger = logging.getLogger("llmc")


class Error(Exception):
    """An error from llmc; .code is the llmc_status name, str(e) the library's message."""

    code = "error"


class InvalidArgumentError(Error, ValueError):
    code = "invalid argument"


class FormatError(Error, ValueError):
    code = "format error"


class UnsupportedError(Error, NotImplementedError):
    code = "unsupported"


class OutOfMemoryError(Error, MemoryError):
    code = "out of memory"


class RangeError(Error, ValueError):
    code = "out of range"


class TemplateError(Error):
    code = "template error"


class NetworkError(Error, ConnectionError):
    code = "network error"


class AuthError(Error, PermissionError):
    """401/403 from the Hub: a gated or private repo without access."""

    code = "authentication error"


class NotFoundError(Error, FileNotFoundError):
    code = "not found"


class CancelledError(Error):
    code = "cancelled"


class DeviceError(Error, RuntimeError):
    code = "device error"


class IOFailure(Error, OSError):
    code = "I/O error"


_BY_CODE = {1: InvalidArgumentError, 2: IOFailure, 3: FormatError, 4: UnsupportedError, 5: OutOfMemoryError,
            6: RangeError, 7: TemplateError, 8: NetworkError, 9: AuthError, 10: NotFoundError, 11: CancelledError,
            12: DeviceError, 13: Error}


class CError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * _ERROR_MSG_MAX)]


def raise_for(status, err):
    if status:
        msg = err.msg.decode("utf-8", "replace")
        raise _BY_CODE.get(status, Error)(msg)


TEXT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _find_library():
    env = os.environ.get("LLMC_LIBRARY")
    for path in ([env] if env else []) + [os.path.join(_HERE, "libllmc.so")]:
        if path and os.path.exists(path):
            return path
    raise ImportError("llmc: libllmc.so not found next to the package (reinstall with `pip install .`), "
                      "and LLMC_LIBRARY is not set")


lib = ctypes.CDLL(_find_library())  # CDLL: the GIL is released for the length of every call
_P = ctypes.c_void_p
_S = ctypes.c_char_p
_E = ctypes.POINTER(CError)
for name, res, args in [
    ("llmc_shared_version", _S, []),
    ("llmc_free", None, [_P]),
    ("llmc_set_log_callback", None, [LOG_FN, _P]),
    ("llmc_pipeline_create_json", ctypes.c_int, [_S, PROGRESS_FN, _P, ctypes.POINTER(_P), _E]),
    ("llmc_pipeline_free", None, [_P]),
    ("llmc_pipeline_generate_json", ctypes.c_int,
     [_P, _S, _S, _S, TEXT_FN, _P, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_P), _E]),
    ("llmc_pipeline_generate_batch_json", ctypes.c_int,
     [_P, ctypes.c_int, ctypes.POINTER(_S), ctypes.POINTER(_S), _S, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_P), _E]),
    ("llmc_pipeline_encode", ctypes.c_int,
     [_P, _S, ctypes.c_size_t, ctypes.c_bool, ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
      ctypes.POINTER(ctypes.c_size_t), _E]),
    ("llmc_pipeline_decode", ctypes.c_int,
     [_P, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_bool, ctypes.POINTER(_P), _E]),
    ("llmc_pipeline_apply_template", ctypes.c_int, [_P, _S, _S, ctypes.c_bool, ctypes.POINTER(_P), _E]),
    ("llmc_pipeline_tokenizer_info", ctypes.c_int, [_P, ctypes.POINTER(_P), _E]),
    ("llmc_login", ctypes.c_int, [_S, _E]),
]:
    fn = getattr(lib, name)
    fn.restype = res
    fn.argtypes = args


def take_string(ptr):
    """A malloc'd C string into Python, freed."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.llmc_free(ptr)


def take_json(ptr):
    return json.loads(take_string(ptr))


_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


@LOG_FN
def _on_log(level, msg, user):
    try:
        logger.log(_LEVELS.get(level, logging.INFO), "%s", msg.decode("utf-8", "replace") if msg else "")
    except Exception:  # noqa: BLE001 - a log line must never take the engine down
        pass


lib.llmc_set_log_callback(_on_log, None)
