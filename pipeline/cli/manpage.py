"""The man page coffre(1), in groff's man format, generated from the click command tree (scripts/manpage writes it
to docs/coffre.1). English, whatever the process speaks."""

from __future__ import annotations

import click

EXIT_STATUS = [
    ("0", "All good."),
    ("1", "A check failed: a copy damaged, missing or tampered with, or a restore that does not match."),
    ("2", "Usage or configuration error (a wrong option, a config key Coffre does not know, an identity that "
          "matches none of a run's recipients)."),
    ("3", "Could not run: source unreadable, destination missing or full, lock held by a live run."),
    ("4", "Partial: some copies written, others not."),
    ("5", "Done and saved, but what was saved needs a person (fiscal findings, data that shrank or vanished since "
          "the last run)."),
]
FILES = [
    ("~/.config/coffre/coffre.toml", "The user's configuration (under $XDG_CONFIG_HOME when set); keys are described "
                                     "in docs/CONFIG.md and schemas/config.schema.json."),
    ("/etc/coffre/coffre.toml", "The system's configuration, the only one root reads."),
    ("coffre-signing.key, coffre-signing.pub", "The signing key pair, beside the configuration (named after it)."),
    ("coffre-state/", "The record of runs, beside the configuration."),
    ("the identity file", "The age identity that decrypts the copies, written by init to --identity-out only; keep "
                          "it off the till's machine."),
]
ENVIRONMENT = [
    ("COFFRE_CONFIG", "The configuration file when --config is not given."),
    ("COFFRE_LANG", "The language of every message: fr or en (as --lang)."),
    ("LANGUAGE, LC_ALL, LC_MESSAGES, LANG", "French under a French locale, English otherwise."),
    ("XDG_CONFIG_HOME", "Where the user's configuration is looked for (default ~/.config)."),
    ("COFFRE_DEBUG", "Set to 1, an internal error shows its traceback."),
]


def escape(text: str) -> str:
    """Text safe in a man page: backslashes, hyphens of options, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    # Outside ASCII, groff's own notation: the page renders the same with or without preconv.
    text = "".join(c if c.isascii() else f"\\[u{ord(c):04X}]" for c in text)
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _paragraphs(text: str) -> list[str]:
    text = (text or "").replace("\b\n", "").replace("\b", "")
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _commands(group: click.Group, ctx: click.Context, prefix: str):
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = click.Context(cmd, info_name=name, parent=ctx)
        yield f"{prefix} {name}", cmd, sub
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, sub, f"{prefix} {name}")


def _options(cmd: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out += [".TP", f"\\fB{escape(names)}\\fR", escape(" ".join(help_text.split())) or "\\&"]
    return out


def render(cli: click.Group) -> str:
    from pipeline import i18n

    was = i18n.language()
    i18n.set_language("en")
    try:
        return _render(cli)
    finally:
        i18n.set_language(was)


def _render(cli: click.Group) -> str:
    ctx = click.Context(cli, info_name="coffre", **cli.context_settings)
    out = ['.\\" Generated from the click command tree by scripts/manpage: edit the commands, not this file.',
           '.TH COFFRE 1 "" "coffre" "User Commands"', ".SH NAME",
           "coffre \\- " + escape(_paragraphs(cli.help)[0].rstrip(".")),
           ".SH SYNOPSIS", ".B coffre", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...", ".SH DESCRIPTION"]
    for p in _paragraphs(cli.help):
        out += [".PP", escape(p)]
    out += [".PP", escape("Every command says what it does in one sentence per problem, never a traceback; "
                          "`coffre COMMAND --help` shows the same text as this page.")]
    out += [".SS Options"] + _options(cli, ctx)
    out.append(".SH COMMANDS")
    for path, cmd, sub in _commands(cli, ctx, "coffre"):
        out += [".SS " + escape(path.removeprefix("coffre ")), ".B " + escape(path),
                escape(" ".join(cmd.collect_usage_pieces(sub)))]
        for p in _paragraphs(cmd.help):
            out += [".PP", escape(p)]
        out += _options(cmd, sub)
    out.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", escape(meaning)]
    out.append(".SH FILES")
    for name, meaning in FILES:
        out += [".TP", f"\\fI{escape(name)}\\fR", escape(meaning)]
    out.append(".SH ENVIRONMENT")
    for name, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{escape(name)}\\fR", escape(meaning)]
    out += [".SH SEE ALSO", "\\fBage\\fR(1), \\fBminisign\\fR(1), \\fBb3sum\\fR(1), \\fBzstd\\fR(1), \\fBrclone\\fR(1)"]
    return "\n".join(out) + "\n"
