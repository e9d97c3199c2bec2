"""A stand-in for torch in the test venv (llmc needs no torch, and CI has none): just the dtype
objects the seed tutorial names, printing as torch's do ("torch.bfloat16")."""


class dtype:  # noqa: N801 - torch's name
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"

    __str__ = __repr__


bfloat16, float16, float32 = dtype("bfloat16"), dtype("float16"), dtype("float32")
