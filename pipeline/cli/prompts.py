"""Questions a person answers at the terminal, in their language: O/OUI/N/NON as well as y/yes/n/no, any case."""

from __future__ import annotations

import click

from pipeline.i18n import _

YES = {"o", "oui", "y", "yes"}
NO = {"n", "non", "no"}


def yes_no_answer(text: str) -> bool:
    """What a typed answer means; click asks again, with one sentence, when it is neither yes nor no."""
    answer = text.strip().lower()
    if answer in YES:
        return True
    if answer in NO:
        return False
    raise click.UsageError(_("Answer O (oui) or N (non)."))


def confirm(question: str, default: bool = True) -> bool:
    """Asks a yes/no question on standard error; Enter takes the default shown in capitals."""
    suffix = _("[Y/n]") if default else _("[y/N]")  # French: [O/n], [o/N]
    answer = click.prompt(f"{question} {suffix}", default="", show_default=False, err=True, prompt_suffix=" ",
                          value_proc=lambda text: text)
    while True:
        if not answer.strip():
            return default
        try:
            return yes_no_answer(answer)
        except click.UsageError as err:
            click.echo(err.message, err=True)
        answer = click.prompt(f"{question} {suffix}", default="", show_default=False, err=True, prompt_suffix=" ",
                              value_proc=lambda text: text)
