"""Coverage-guided fuzzing of every parser with atheris: one harness module per parser family.

Each harness (``fuzz.gatt``, ``fuzz.cms50``, ...) exposes ``TestOneInput(data)``, which feeds the
parser arbitrary bytes and lets through only the error the parser documents; ``python -m fuzz``
runs them all for a bounded time, each in its own libFuzzer process (see fuzz/README.md).
"""
