"""`coffre init`: writes the config, the signing keys, and the age identity to --identity-out only."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.common import interactive, say
from pipeline.errors import UsageError


@click.command("init")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Where to write the configuration (TOML). Default: $COFFRE_CONFIG, else /etc/coffre/coffre.toml "
                   "for root, ~/.config/coffre/coffre.toml for others.")
@click.option("--source", help="The till database, as sqlite:PATH.")
@click.option("--to", "destinations", multiple=True, help="A destination folder or rclone:REMOTE:PATH (repeat for several).")
@click.option("--identity-out", type=click.Path(dir_okay=False), help="Where to write the age identity (the decryption secret); keep it off this machine.")
@click.option("--store-id", help="A short name for the shop (letters, digits, . _ -). Default: the host name.")
@click.option("--passphrase-env", metavar="VAR", help="Protect the identity file with the passphrase in this environment variable.")
@click.option("--protect/--no-protect", default=None, help="Ask for a passphrase to protect the identity file (interactive).")
@click.option("--shop-name", help="The company's name, for the inspector's package.")
@click.option("--siret", help="The shop's SIRET (14 digits); its SIREN comes with it.")
@click.option("--siren", help="The company's SIREN (9 digits), when no SIRET is given.")
@click.option("--address", help="The shop's address.")
@click.option("--vat-number", help="The intra-EU VAT number (FR…).")
@click.option("--naf", help="The NAF (APE) code, e.g. 47.11B.")
@click.option("--till-software", help="The till software's name.")
@click.option("--till-version", help="The till software's version.")
@click.option("--till-certificate", help="The till's NF525 certificate or attestation number.")
def command(config_path, source, destinations, identity_out, store_id, passphrase_env, protect, shop_name, siret, siren,
            address, vat_number, naf, till_software, till_version, till_certificate) -> None:
    """Set up a store: configuration, signing key, and the age identity that decrypts the copies."""
    from pipeline.initialise import default_store_id, init_store

    ask = interactive()
    destinations = list(destinations)
    from pipeline.config_path import init_target

    config_path = init_target(config_path)  # --config, else $COFFRE_CONFIG, else /etc (root) or ~/.config (others)
    if not source:
        source = "sqlite:" + _need(ask, "--source", "Base de la caisse (fichier SQLite)", None)
    if not destinations:
        if not ask:
            raise UsageError("Missing option --to DEST (a destination folder or rclone:REMOTE:PATH).")
        while True:
            d = click.prompt("Destination (clé USB, disque, partage; vide pour finir)", default="", show_default=False, err=True)
            if not d:
                if destinations:
                    break
                continue
            destinations.append(d)
    if not identity_out:
        identity_out = _need(ask, "--identity-out", "Où écrire la clé de déchiffrement (hors de cette machine)", None)
    if not store_id and ask:
        store_id = click.prompt("Identifiant du magasin", default=default_store_id(), err=True)

    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise UsageError(f"The environment variable {passphrase_env} is empty or not set.")
    elif protect or (protect is None and ask and click.confirm("Protéger la clé de déchiffrement par une phrase secrète ?", default=True, err=True)):
        if not ask:
            raise UsageError("--protect needs a terminal; use --passphrase-env VAR instead.")
        passphrase = click.prompt("Phrase secrète", hide_input=True, confirmation_prompt=True, err=True)

    from pipeline.shop import normalised

    # Checked before anything is written: a mistyped SIRET is caught now, not on the day of the inspection.
    shop = normalised({"name": shop_name, "siret": siret, "siren": siren, "address": address, "vat_number": vat_number,
                       "naf": naf, "till_software": till_software, "till_version": till_version,
                       "till_certificate": till_certificate})
    cfg, recipient = init_store(Path(config_path), source, destinations, Path(identity_out), store_id, passphrase,
                                shop)
    say(f"Configuration written to {cfg.path}")
    say(f"Signing key: {cfg.signing_secret_key_file} (0600); public key {cfg.signing_public_key_file}, pinned in the config.")
    say(f"Age identity (decryption secret) written to {Path(identity_out).absolute()} (0600)"
        + (", protected by a passphrase." if passphrase else "."))
    say(f"Copies are encrypted to {recipient}.")
    say("Keep the identity file OFF this machine (a USB key in a safe, a password manager): without it no copy can be read,"
        " and this machine never needs it to archive.")
    from pipeline.destinations import open_destination
    from pipeline.snapshot import open_source

    source = open_source(cfg.source)
    for warning in source.warnings():
        say(warning)
    src_dev = source.device()
    for spec in cfg.destinations:
        d = open_destination(spec)
        if src_dev is not None and d.device() == src_dev:
            say(f"Warning: {d.describe()} is on the same disk as the database; `coffre archive` will refuse it "
                "(a copy there dies with that disk).")
    if Path(identity_out).absolute().parent == cfg.path.parent:
        say("Warning: the identity file sits beside the configuration; move it off this machine.")


def _need(ask: bool, option: str, prompt: str, default):
    if not ask:
        raise UsageError(f"Missing option {option}.")
    return click.prompt(prompt, default=default, err=True)
