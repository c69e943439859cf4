"""The README's counter app, written in Python for componentize-py: counts the names given on
its command line with wasi:keyvalue@0.2.0-draft2 in the shape of upstream's open PR #55, which
Spin ships (get-many returns each key with an optional value; upstream's main branch and the tag
have the other shape), then prints what get-many says of them.

Built and run by tests/e2e/python.rs: proof that an app nobody here compiled with Rust plugs
and runs with keyvalue-virt."""

import sys

from wit_world import exports
from wit_world.imports import atomics, batch, store


class Run(exports.Run):
    def run(self) -> None:
        bucket = store.open("")
        names = sys.argv[1:]
        for name in names:
            count = atomics.increment(bucket, name, 1)
            print(f"hello {name}: visit {count}")
        for key, value in batch.get_many(bucket, sorted(set(names)) + ["nobody"]):
            shown = "none" if value is None else bytes(value).decode()
            print(f"{key}: {shown}")
