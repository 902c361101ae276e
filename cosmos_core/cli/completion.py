"""`cosmos completion bash|zsh`: a shell completion script generated from the argparse parser.

The parser becomes two tables keyed by the command path ("cosmos", "cosmos hosts", "cosmos hosts check"):
the words offered there (subcommands, then options), and, per "PATH --option", the values an option takes
(its choices; empty means a file name). A small shell function walks the words typed so far through them."""

from __future__ import annotations

import argparse
import shlex

SHELLS = ("bash", "zsh")
ROOT = "cosmos"


def tables(parser: argparse.ArgumentParser, path: str = ROOT) -> tuple[dict[str, str], dict[str, str]]:
    """(words offered per command path, values per "PATH --option" for options that take one)."""
    words: list[str] = []
    values: dict[str, str] = {}
    paths: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                sub_paths, sub_values = tables(sub, f"{path} {name}")
                paths |= sub_paths
                values |= sub_values
        if not action.option_strings and action.choices and not isinstance(action, argparse._SubParsersAction):
            words.extend(str(c) for c in action.choices)  # a positional's choices: `completion bash`
        for option in action.option_strings:
            if option.startswith("--"):
                words.append(option)
                if action.nargs != 0:
                    values[f"{path} {option}"] = " ".join(str(c) for c in action.choices or ())
    return {path: " ".join(words)} | paths, values


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` ("bash" or "zsh")."""
    words, values = tables(parser)
    declare = "declare -gA" if shell == "bash" else "typeset -gA"
    lines = [f"{declare} _cosmos_words=(", *_entries(words), ")", f"{declare} _cosmos_values=(", *_entries(values), ")"]
    return "\n".join([HEADER[shell], *lines, FUNCTION[shell]]) + "\n"


def _entries(table: dict[str, str]) -> list[str]:
    return [f"  [{shlex.quote(key)}]={shlex.quote(value)}" for key, value in table.items()]


HEADER = {
    "bash": "# bash completion for cosmos: eval \"$(cosmos completion bash)\" in ~/.bashrc",
    "zsh": "# zsh completion for cosmos: eval \"$(cosmos completion zsh)\" in ~/.zshrc, after compinit",
}

# Walk the typed words: an option that takes a value skips it, a known subcommand extends the path.
FUNCTION = {
    "bash": r"""_cosmos() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} at=cosmos word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -n ${_cosmos_values["$at $word"]+x} ]]; then ((i++)); continue; fi
    if [[ -n ${_cosmos_words["$at $word"]+x} ]]; then at="$at $word"; fi
  done
  if [[ -n ${_cosmos_values["$at $prev"]+x} ]]; then
    if [[ -n ${_cosmos_values["$at $prev"]} ]]; then
      mapfile -t COMPREPLY < <(compgen -W "${_cosmos_values["$at $prev"]}" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return
  fi
  mapfile -t COMPREPLY < <(compgen -W "${_cosmos_words[$at]}" -- "$cur")
}
complete -F _cosmos cosmos""",
    "zsh": r"""_cosmos() {
  local at=cosmos word i prev=${words[CURRENT-1]}
  for ((i = 2; i < CURRENT; i++)); do
    word=${words[i]}
    if (( ${+_cosmos_values[$at $word]} )); then ((i++)); continue; fi
    if (( ${+_cosmos_words[$at $word]} )); then at="$at $word"; fi
  done
  if (( ${+_cosmos_values[$at $prev]} )); then
    if [[ -n ${_cosmos_values[$at $prev]} ]]; then
      compadd -- ${=_cosmos_values[$at $prev]}
    else
      _files
    fi
    return
  fi
  compadd -- ${=_cosmos_words[$at]}
}
if (( ${+functions[compdef]} )); then compdef _cosmos cosmos; fi""",
}
