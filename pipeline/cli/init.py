"""`coffre init`: writes the config, the signing keys, and the age identity to --identity-out only."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.common import interactive, say
from pipeline.cli.prompts import confirm
from pipeline.errors import UsageError
from pipeline.i18n import _


@click.command("init", help=_(
    "Set up a store: configuration, signing key, and the age identity that decrypts the copies.\n\n"
    "Refuses, writing nothing (exit code 2), what `coffre archive` would refuse: a destination folder that does not "
    "exist, a destination on the database's own disk, a source that is not a SQLite database; and an identity file "
    "on the till's own disk without --i-know.\n\n"
    "Example: coffre init --source sqlite:/var/lib/caisse/caisse.db --to /media/usb-coffre "
    "--identity-out /media/cle-du-coffre/identite.txt"))
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=_("Where to write the configuration (TOML). Default: $COFFRE_CONFIG, else /etc/coffre/coffre.toml "
                     "for root, ~/.config/coffre/coffre.toml for others."))
@click.option("--source", help=_("The till database, as sqlite:PATH."))
@click.option("--to", "destinations", multiple=True,
              help=_("A destination folder or rclone:REMOTE:PATH (repeat for several)."))
@click.option("--identity-out", type=click.Path(dir_okay=False),
              help=_("Where to write the age identity (the decryption secret); keep it off this machine."))
@click.option("--store-id", help=_("A short name for the shop (letters, digits, . _ -). Default: the host name."))
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
@click.option("--shop-name", help=_("The company's name, for the inspector's package."))
@click.option("--siret", help=_("The shop's SIRET (14 digits); its SIREN comes with it."))
@click.option("--siren", help=_("The company's SIREN (9 digits), when no SIRET is given."))
@click.option("--address", help=_("The shop's address."))
@click.option("--vat-number", help=_("The intra-EU VAT number (FR…)."))
@click.option("--naf", help=_("The NAF (APE) code, e.g. 47.11B."))
@click.option("--till-software", help=_("The till software's name."))
@click.option("--till-version", help=_("The till software's version."))
@click.option("--till-certificate", help=_("The till's NF525 certificate or attestation number."))
def command(config_path, source, destinations, identity_out, store_id, passphrase_env, protect, allow_same_disk,
            i_know, shop_name, siret, siren, address, vat_number, naf, till_software, till_version,
            till_certificate) -> None:
    from pipeline.config_path import init_target
    from pipeline.initialise import default_store_id, init_store

    ask = interactive()
    destinations = list(destinations)
    config_path = init_target(config_path)  # --config, else $COFFRE_CONFIG, else /etc (root) or ~/.config (others)
    if not source:
        source = "sqlite:" + _need(ask, "--source", _("Till database (SQLite file)"), None)
    if not destinations:
        if not ask:
            raise UsageError(_("Missing option --to DEST (a destination folder or rclone:REMOTE:PATH)."))
        while True:
            d = click.prompt(_("Destination (USB key, disk, network share; empty to finish)"), default="",
                             show_default=False, err=True, prompt_suffix=_(": "))
            if not d:
                if destinations:
                    break
                continue
            destinations.append(d)
    if not identity_out:
        identity_out = _need(ask, "--identity-out", _("Where to write the decryption key (off this machine)"), None)
    if not store_id and ask:
        store_id = click.prompt(_("Store id"), default=default_store_id(), err=True,
                                prompt_suffix=_(": "))

    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise UsageError(_("The environment variable {name} is empty or not set.").format(name=passphrase_env))
    elif protect or (protect is None and ask and confirm(_("Protect the decryption key with a passphrase?"), True)):
        if not ask:
            raise UsageError(_("--protect needs a terminal; use --passphrase-env VAR instead."))
        passphrase = click.prompt(_("Passphrase"), hide_input=True, confirmation_prompt=_("Repeat the passphrase"),
                                  err=True, prompt_suffix=_(": "))

    from pipeline.shop import normalised

    # Checked before anything is written: a mistyped SIRET is caught now, not on the day of the inspection.
    shop = normalised({"name": shop_name, "siret": siret, "siren": siren, "address": address, "vat_number": vat_number,
                       "naf": naf, "till_software": till_software, "till_version": till_version,
                       "till_certificate": till_certificate})
    cfg, recipient = init_store(Path(config_path), source, destinations, Path(identity_out), store_id, passphrase,
                                shop, allow_same_disk=allow_same_disk, i_know=i_know)
    say(_("Configuration written to {path}").format(path=cfg.path))
    say(_("Signing key: {secret} (0600); public key {public}, pinned in the config.")
        .format(secret=cfg.signing_secret_key_file, public=cfg.signing_public_key_file))
    if passphrase:
        say(_("Age identity (decryption secret) written to {path} (0600), protected by a passphrase.")
            .format(path=Path(identity_out).absolute()))
    else:
        say(_("Age identity (decryption secret) written to {path} (0600).").format(path=Path(identity_out).absolute()))
    say(_("Copies are encrypted to {recipient}.").format(recipient=recipient))
    say(_("Keep the identity file OFF this machine (a USB key in a safe, a password manager): without it no copy can "
          "be read, and this machine never needs it to archive."))
    from pipeline.destinations import open_destination
    from pipeline.snapshot import open_source

    source = open_source(cfg.source)
    for warning in source.warnings():
        say(warning)
    src_dev = source.device()
    for spec in cfg.destinations:
        d = open_destination(spec)
        if src_dev is not None and d.device() == src_dev:  # accepted with --allow-same-disk
            say(_("Warning: {destination} is on the same disk as the database; `coffre archive` will refuse it (a "
                  "copy there dies with that disk).").format(destination=d.describe()))
    if Path(identity_out).absolute().parent == cfg.path.parent:
        say(_("Warning: the identity file sits beside the configuration; move it off this machine."))


def _need(ask: bool, option: str, prompt: str, default):
    if not ask:
        raise UsageError(_("Missing option {option}.").format(option=option))
    return click.prompt(prompt, default=default, err=True, prompt_suffix=_(": "))
