"""The analogy prompt: a Jinja template (templates/prompt2text/) rendered in a sandbox."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipelines.resources import data_dir
from pipelines.synthesize.prompt2text.examples import Example

DEFAULT_TEMPLATE_NAME, DEFAULT_SYSTEM_NAME = "analogy.j2", "system.txt"
# Where a completion should end: the model starting the next example, or a blank line.
DEFAULT_STOP = ("\n\n", "\nTags:", "\nDescription:")


class PromptTemplateError(ValueError):
    """A broken prompt template; the message names the file and line."""


@dataclass(frozen=True)
class PromptTemplate:
    path: str
    source: str
    system: str | None

    @functools.cached_property  # read for every row's metadata
    def id(self) -> str:
        return Path(self.path).name

    @functools.cached_property  # read for every row's metadata
    def version(self) -> str:
        return hashlib.sha256((self.source + "\0" + (self.system or "")).encode()).hexdigest()[:12]

    def _compiled(self) -> jinja2.Template:
        try:
            return _compile(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise PromptTemplateError(f"{self.path}, line {exc.lineno}: {exc.message}") from None

    def render(self, examples: list[Example], target: list[str]) -> str:
        try:
            text = self._compiled().render(
                examples=[{"id": e.id, "tags": list(e.tags), "description": e.description} for e in examples],
                target=list(target))
        except jinja2.TemplateError as exc:
            raise PromptTemplateError(f"{self.path}, line {_runtime_line(exc)}: {exc}") from None
        return text.rstrip(" ")

    def messages(self, prompt: str) -> tuple[dict, ...]:
        """The chat form: the same analogy as the user turn, the instruction as the system turn."""
        turns = ({"role": "system", "content": self.system},) if self.system else ()
        return turns + ({"role": "user", "content": prompt},)


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    # compiled once per process: compiling per row cost more than everything else prompt2text does
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(source)


def _runtime_line(exc: Exception) -> str:
    tb = exc.__traceback__
    line = "?"
    while tb is not None:  # the innermost frame compiled from the template carries its line
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def load_prompt_template(path: str | Path | None = None, system: str | Path | None = None) -> PromptTemplate:
    folder = data_dir("templates", "prompt2text")
    system_path = Path(system) if system else (None if path else folder / DEFAULT_SYSTEM_NAME)
    path = Path(path) if path else folder / DEFAULT_TEMPLATE_NAME
    try:
        source = path.read_text(encoding="utf-8")
        system_text = system_path.read_text(encoding="utf-8").strip() if system_path else None
    except OSError as exc:
        raise PromptTemplateError(f"cannot read prompt template: {exc}") from exc
    template = PromptTemplate(str(path), source, system_text)
    template._compiled()  # syntax errors surface at load, not on a worker
    return template
