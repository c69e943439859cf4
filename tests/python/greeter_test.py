"""The example test component in Python (componentize-py): tests of the greeter app
(tests/greeter), run with `keyvalue-virt test greeter_test.wasm --app greeter.wasm`. Each test
seeds the store through the control interface, calls the app's own export
(example:greeter/greeter), and checks the data and the app's calls; one injects a fault. The
runner resets the store before each test.

A test fails with a plain `assert` (its message becomes the FAIL line) or an error from a call;
`run` turns both into the error it returns, since an uncaught exception would trap and end the
whole run. `fails_on_purpose` is ignored unless named (`--only fails_on_purpose`).

Built and run by compose/tests/test_command.rs, against the world `greeter-test` of
tests/greeter/wit/greeter.wit."""

import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.suite import TestCase
from wit_world.imports import control, greeter
from wit_world.imports.control import Error_Other, Fault, Op, Outcome_Failed, Outcome_Number


def calls(op, key):
    """The outcomes of the app's calls of `op` naming `key`, oldest first."""
    return [call.outcome for call in control.log().calls if call.op == op and key in call.keys]


def greets_and_counts():
    control.set("", "alice", b"41")
    greeting = greeter.greet("alice")
    assert greeting == "hello alice: visit 42", f"expected `hello alice: visit 42`, got `{greeting}`"
    stored = control.get("", "alice")
    assert stored == b"42", f"expected 42 stored under `alice`, found {stored!r}"
    increments = calls(Op.INCREMENT, "alice")
    assert increments == [Outcome_Number(42)], (
        f"expected one `increment` of `alice` answering 42, saw {increments}"
    )


def every_test_starts_from_the_seeds():
    keys = control.keys("")
    assert keys == [], f"expected an empty store, found keys {keys}"
    greeting = greeter.greet("bob")
    assert greeting == "hello bob: visit 1", f"expected `hello bob: visit 1`, got `{greeting}`"
    assert control.keys("") == ["bob"], f"expected only `bob` stored, found {control.keys('')}"


def a_failed_increment_keeps_the_count():
    control.set("", "alice", b"42")
    control.add_fault(Fault(Op.INCREMENT, Error_Other("disk on fire"), None, None, "alice"))
    try:
        greeting = greeter.greet("alice")
    except Err as error:
        message = error.value
        assert "`alice`" in message and "disk on fire" in message, (
            f"expected an error naming `alice` and the fault, got `{message}`"
        )
    else:
        raise AssertionError(f"expected the greeting to fail, got `{greeting}`")
    stored = control.get("", "alice")
    assert stored == b"42", f"expected the count of `alice` to stay 42, found {stored!r}"
    assert greeter.visits("alice") == 42
    greeting = greeter.greet("bob")
    assert greeting == "hello bob: visit 1", f"the fault names `alice` only, yet `bob` got `{greeting}`"
    failed = calls(Op.INCREMENT, "alice")
    assert failed == [Outcome_Failed(Error_Other("disk on fire"))], (
        f"expected one failed `increment` of `alice` in the log, saw {failed}"
    )


def fails_on_purpose():
    greeting = greeter.greet("carol")
    assert greeting == "hello carol: visit 2", f"expected `hello carol: visit 2`, got `{greeting}`"


# Every test, in the order they run, with why it is ignored (None: it runs).
TESTS = {
    "greets_and_counts": (greets_and_counts, None),
    "every_test_starts_from_the_seeds": (every_test_starts_from_the_seeds, None),
    "a_failed_increment_keeps_the_count": (a_failed_increment_keeps_the_count, None),
    "fails_on_purpose": (
        fails_on_purpose,
        "fails on purpose, to show a failure; run it with --only fails_on_purpose",
    ),
}


class Suite(exports.Suite):
    def tests(self):
        return [TestCase(name, ignored) for name, (_, ignored) in TESTS.items()]

    def run(self, name):
        if name not in TESTS:
            raise Err(f"no test named `{name}`")
        try:
            TESTS[name][0]()
        except AssertionError as error:
            raise Err(str(error) or traceback.format_exc())
        except Err as error:
            raise Err(f"a call failed: {error.value!r}")
        except Exception:
            raise Err(traceback.format_exc())
