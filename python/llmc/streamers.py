"""Streamers with transformers' names and behaviour: TextStreamer prints the reply as it comes,
TextIteratorStreamer hands it to another thread as an iterator. llmc streams complete UTF-8 text
(never half a Korean syllable), so the pieces need no re-decoding."""
import queue


class BaseStreamer:
    """What the pipeline calls: put_prompt(text) (unless skip_prompt), put_text(piece), end()."""

    def __init__(self, tokenizer=None, skip_prompt=False, **decode_kwargs):
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs

    def put_prompt(self, text):
        if not self.skip_prompt:
            self.on_finalized_text(text, stream_end=False)

    def put_text(self, piece):
        self.on_finalized_text(piece, stream_end=False)

    def end(self):
        self.on_finalized_text("", stream_end=True)

    def on_finalized_text(self, text, stream_end=False):
        raise NotImplementedError


class TextStreamer(BaseStreamer):
    """Prints to stdout as the text arrives, and a newline at the end (transformers.TextStreamer)."""

    def on_finalized_text(self, text, stream_end=False):
        print(text, flush=True, end="" if not stream_end else None)


class TextIteratorStreamer(BaseStreamer):
    """Iterate it from another thread while the pipeline generates (transformers.TextIteratorStreamer).
    timeout: seconds next() waits for a piece before raising queue.Empty (None: forever)."""

    def __init__(self, tokenizer=None, skip_prompt=False, timeout=None, **decode_kwargs):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue = queue.Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text, stream_end=False):
        if text:
            self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self):
        return self

    def __next__(self):
        value = self.text_queue.get(timeout=self.timeout)
        if value == self.stop_signal:
            raise StopIteration()
        return value
