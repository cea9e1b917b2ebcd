"""PrepareStep: the shared prepare step of the tag and features stages (state only when needed, a failure
is that input's error)."""
from pipelines.prepare_step import ERRORS, PrepareStep


class Doubling:
    """A component whose prepare needs its loaded state for some inputs to fail on."""

    def __init__(self, needs_state):
        self.needs_state, self.loads = needs_state, 0

    def prepare_needs_state(self):
        return self.needs_state

    def prepare(self, item, state):
        if item < 0:
            raise ValueError(f"negative input {item}")
        return item * 2 if state is None else (item * 2, state)


class Step(PrepareStep):
    def load_state(self):
        self.component.loads += 1
        return "state"

    def error_id(self, item):
        return f"item{item}"

    def error_ref(self, item):
        return {"item": item}


def test_prepare_loads_state_only_when_needed_and_reports_failures():
    lazy = Step(Doubling(needs_state=False), "prepare", "test", "prepare_failed")
    lazy.setup()
    assert lazy.component.loads == 0 and list(lazy.process(3)) == [6]
    eager = Step(Doubling(needs_state=True), "prepare_x", "test", "prepare_failed")
    eager.setup()
    assert eager.component.loads == 1 and list(eager.process(3)) == [(6, "state")]
    [error] = list(eager.process(-1))
    assert error.tag == ERRORS
    assert error.value == {"id": "item-1", "stage": "prepare_x", "error_type": "ValueError",
                           "message": "negative input -1", "input_ref": '{"item": -1}'}
