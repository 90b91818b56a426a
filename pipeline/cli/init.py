"""`coffre init`: writes the config, the signing keys, and the age identity to --identity-out only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from pipeline.cli.common import Command, epilog, interactive, json_option, say, verbosity_options
from pipeline.cli.prompts import confirm
from pipeline.errors import CANNOT_RUN, OK, USAGE, UsageError
from pipeline.i18n import _
from pipeline.snapshot import kind_of_spec, refuse_connection_string


@click.command("init", cls=Command, help=_(
    "Set up a store: configuration, signing key, and the age identity that decrypts the copies.\n\n"
    "Refuses, writing nothing (exit code 2), what `coffre archive` would refuse: a destination folder that does not "
    "exist, a destination on the database's own disk, a source that is not a SQLite database or a reachable server; and an identity file "
    "on the till's own disk without --i-know. On a terminal it asks for what is missing, and asks again when an "
    "answer would be refused."),
    epilog=epilog(["coffre init --source sqlite:/var/lib/caisse/caisse.db --to /media/usb-coffre "
                   "--identity-out /media/cle-du-coffre/identite.txt",
                   "coffre init --source sqlite:/var/lib/caisse/caisse.db --to /media/usb-coffre "
                   "--to rclone:bureau:coffre --identity-out /media/cle-du-coffre/identite.txt --protect",
                   "coffre init --source postgresql://coffre@127.0.0.1:5432/odoo --to /media/usb-coffre "
                   "--identity-out /media/cle-du-coffre/identite.txt",
                   "coffre init"],
                  [OK, USAGE, CANNOT_RUN],
                  {OK: _("the store is set up"),
                   USAGE: _("refused, nothing written: an option missing or wrong, a destination or an identity file "
                            "that `coffre archive` would refuse, a file that already exists"),
                   CANNOT_RUN: _("a file could not be written (permissions, a full disk), or the database server "
                                 "could not be reached, logged into or read")}))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="PATH",
              help=_("Where to write the configuration (TOML). Default: $COFFRE_CONFIG, else /etc/coffre/coffre.toml "
                     "for root, ~/.config/coffre/coffre.toml for others."))
@click.option("--source", metavar="SOURCE", help=_("The till database: sqlite:PATH, postgresql://USER@HOST:PORT/DATABASE "
                                                    "or mariadb://USER@HOST:PORT/DATABASE (passwords never in it: "
                                                    "~/.pgpass, or a MariaDB option file)."))
@click.option("--to", "destinations", multiple=True, metavar="DEST",
              help=_("A destination folder or rclone:REMOTE:PATH (repeat for several)."))
@click.option("--identity-out", type=click.Path(dir_okay=False), metavar="PATH",
              help=_("Where to write the age identity (the decryption secret); keep it off this machine."))
@click.option("--store-id", metavar="NAME",
              help=_("A short name for the shop (letters, digits, . _ -). Default: the host name."))
@click.option("--passphrase-env", metavar="VAR",
              help=_("Protect the identity file with the passphrase in this environment variable."))
@click.option("--protect/--no-protect", default=None,
              help=_("Ask for a passphrase to protect the identity file (interactive)."))
@click.option("--allow-same-disk", is_flag=True,
              help=_("Experts: accept a destination on the database's own disk (`coffre archive` still refuses it "
                     "unless told so)."))
@click.option("--i-know", is_flag=True,
              help=_("Accept writing the identity file on the till database's own disk (move it off this machine "
                     "afterwards)."))
@click.option("--mapping", metavar="NAME|PATH", default="reference-pos", show_default=True,
              help=_("How the till software's tables are read: reference-pos (Coffre's sample till), odoo-pos (Odoo's "
                     "point of sale on PostgreSQL), dolibarr-pos (Dolibarr's TakePOS on MariaDB), or the path of a "
                     "mapping file (.json)."))
@click.option("--chain-secret-file", type=click.Path(dir_okay=False), metavar="PATH",
              help=_("A file holding the till's secret that seals its own chain (Dolibarr's blocked log, format V2): "
                     "read at each run, never copied."))
@click.option("--shop-name", metavar="NAME", help=_("The company's name, for the inspector's package."))
@click.option("--siret", metavar="SIRET", help=_("The shop's SIRET (14 digits); its SIREN comes with it."))
@click.option("--siren", metavar="SIREN", help=_("The company's SIREN (9 digits), when no SIRET is given."))
@click.option("--address", metavar="ADDRESS", help=_("The shop's address."))
@click.option("--vat-number", metavar="NUMBER", help=_("The intra-EU VAT number (FR…)."))
@click.option("--naf", metavar="CODE", help=_("The NAF (APE) code, e.g. 47.11B."))
@click.option("--till-software", metavar="NAME", help=_("The till software's name."))
@click.option("--till-version", metavar="VERSION", help=_("The till software's version."))
@click.option("--till-certificate", metavar="NUMBER", help=_("The till's NF525 certificate or attestation number."))
@json_option(_("Print the configuration file, public key, recipient and identity file written, as JSON on standard "
               "output (never a secret)."))
@verbosity_options
def command(config_path, source, destinations, identity_out, store_id, passphrase_env, protect, allow_same_disk,
            i_know, mapping, chain_secret_file, shop_name, siret, siren, address, vat_number, naf, till_software, till_version,
            till_certificate, as_json) -> None:
    from pipeline import initialise as init
    from pipeline.config_path import init_target

    ask = interactive()
    config_path = init_target(config_path)  # --config, else $COFFRE_CONFIG, else /etc (root) or ~/.config (others)
    # What was given is checked before any question: a refusal comes now, not after the passphrase was typed twice.
    init.check_config_target(Path(config_path))
    mapping = init.check_mapping(mapping, source)
    if chain_secret_file:
        chain_secret_file = init.check_chain_secret_file(Path(chain_secret_file))
    if store_id:
        init.check_store_id(store_id)
    src_dev = None
    if source:
        source, src_dev = init.check_source(source)
    seen: dict[str, str] = {}
    for d in destinations:
        init.check_destination(d, src_dev, allow_same_disk, seen)
    if not ask and not source:
        raise UsageError(_("Missing option {option}.").format(option="--source"))
    if not ask and not destinations:
        raise UsageError(_("Missing option --to DEST (a destination folder or rclone:REMOTE:PATH)."))
    if not ask and not identity_out:
        raise UsageError(_("Missing option {option}.").format(option="--identity-out"))

    # Each answer is checked as it is typed (the same checks as the refusal): a wrong one is said, then asked again.
    if not source:
        source, src_dev = _ask(_("Till database (SQLite file, or a postgresql://… or mariadb://… address)"),
                               lambda a: init.check_source(_source_typed(a)))
    if identity_out:
        init.check_identity_out(Path(identity_out), src_dev, i_know)
    destinations = list(destinations)
    if not destinations:
        def destination(answer: str) -> str:
            if answer:
                answer = answer if answer.startswith("rclone:") else _home(answer)
                init.check_destination(answer, src_dev, allow_same_disk, seen, again=True)
            return answer

        while True:
            d = _ask(_("Destination (USB key, disk, network share; empty to finish)"), destination, default="")
            if not d:
                if destinations:
                    break
                continue
            destinations.append(d)
    if not identity_out:
        def identity(answer: str) -> str:
            init.check_identity_out(Path(_home(answer)), src_dev, i_know)
            return _home(answer)

        identity_out = _ask(_("Where to write the decryption key (off this machine)"), identity)
    if not store_id and ask:
        def name(answer: str) -> str:
            init.check_store_id(answer)
            return answer

        store_id = _ask(_("Store id"), name, default=init.default_store_id())

    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise UsageError(_("The environment variable {name} is empty or not set.").format(name=passphrase_env))
    elif protect or (protect is None and ask and confirm(_("Protect the decryption key with a passphrase?"), True)):
        if not ask:
            raise UsageError(_("--protect needs a terminal; use --passphrase-env VAR instead."))
        passphrase = click.prompt(_("Passphrase"), hide_input=True, confirmation_prompt=_("Repeat the passphrase"),
                                  err=True, prompt_suffix=_suffix())

    from pipeline.shop import normalised

    # Checked before anything is written: a mistyped SIRET is caught now, not on the day of the inspection.
    shop = normalised({"name": shop_name, "siret": siret, "siren": siren, "address": address, "vat_number": vat_number,
                       "naf": naf, "till_software": till_software, "till_version": till_version,
                       "till_certificate": till_certificate})
    cfg, recipient = init.init_store(Path(config_path), source, destinations, Path(identity_out), store_id,
                                     passphrase, shop, allow_same_disk=allow_same_disk, i_know=i_know,
                                     mapping=mapping, chain_secret_file=chain_secret_file or None)
    identity_path = Path(identity_out).absolute()
    if as_json:  # what was written and where; never the identity's secret nor its passphrase
        click.echo(json.dumps({"config": str(cfg.path), "store_id": cfg.store_id, "source": cfg.source,
                               "destinations": list(cfg.destinations), "recipient": recipient,
                               "public_key": cfg.signing_public_key,
                               "public_key_file": str(cfg.signing_public_key_file),
                               "signing_secret_key_file": str(cfg.signing_secret_key_file),
                               "identity_file": str(identity_path), "identity_protected": bool(passphrase),
                               "exit_code": OK}, indent=2, sort_keys=True))
    else:
        say(_("Configuration written to {path}").format(path=cfg.path), "result")
        say(_("Signing key: {secret} (0600); public key {public}, pinned in the config.")
            .format(secret=cfg.signing_secret_key_file, public=cfg.signing_public_key_file))
        if passphrase:
            say(_("Age identity (decryption secret) written to {path} (0600), protected by a passphrase.")
                .format(path=identity_path))
        else:
            say(_("Age identity (decryption secret) written to {path} (0600).").format(path=identity_path))
        say(_("Copies are encrypted to {recipient}.").format(recipient=recipient))
        say(_("Keep the identity file OFF this machine (a USB key in a safe, a password manager): without it no copy "
              "can be read, and this machine never needs it to archive."), "warning")
    from pipeline.destinations import open_destination
    from pipeline.snapshot import open_source

    source = open_source(cfg.source)
    for warning in source.warnings():
        say(warning, "warning")
    src_dev = source.device()
    for spec in cfg.destinations:
        d = open_destination(spec)
        if src_dev is not None and d.device() == src_dev:  # accepted with --allow-same-disk
            say(_("Warning: {destination} is on the same disk as the database; `coffre archive` will refuse it (a "
                  "copy there dies with that disk).").format(destination=d.describe()), "warning")
    if Path(identity_out).absolute().parent == cfg.path.parent:
        say(_("Warning: the identity file sits beside the configuration; move it off this machine."), "warning")


def _ask(question: str, check, default=None):
    """Asks until `check` takes the answer (it returns what to keep, or raises the sentence a refusal would say)."""
    while True:
        answer = click.prompt(question, default=default, show_default=bool(default), err=True,
                              prompt_suffix=_suffix()).strip()
        try:
            return check(answer)
        except UsageError as err:
            say(str(err), "error")


def _suffix() -> str:
    """The colon after a question as the language writes it ("Phrase secrète : " in French)."""
    return _("{heading}:").format(heading="") + " "


def _home(answer: str) -> str:
    return str(Path(answer).expanduser()) if answer else answer


def _source_typed(answer: str) -> str:
    """A typed source: a server's address as it is, anything else a SQLite file's path (never a connection string,
    which would name a file after its password)."""
    refuse_connection_string(answer)
    return answer if kind_of_spec(answer) else "sqlite:" + _home(answer)
