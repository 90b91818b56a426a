"""A real terminal for the language tests: a tmux session a test types into, and the words a screen must not hold."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import uuid
from pathlib import Path

from conftest import need_tool

# Words that are English and not French (nor a name Coffre prints): one of them on a French screen is a sentence that
# escaped the catalogue. Short words that French shares ("a", "on", "or", "an", "as", "en", "message", "options",
# "total", "minutes", "signature", "journal", "tickets", "destination", "date", "version", "usage", "copies",
# "configuration", "fiscal", "attention", "intact", "public", "secret") are left out.
ENGLISH = set("""
the and of to is are was were be been being with without from this that these those has have had not no yes
it its they their there here by for into onto at which what who when where why how will would can cannot could
should must may might do does did done than then only also every each all none some any more less most least
copy  run runs store stores file files folder folders written write writes read reads checked check
checks verified verify verifying restored restore restoring drill drilled saved save backup backups key keys disk
disks drive free space left day days evening evenings hour hours second seconds error errors warning warnings
missing found failed failure success succeeded ok  damaged corrupt broken signed signing unsigned records
record lines payments closures closure shop till till's database snapshot journals  findings finding
 package auditor inspector password identity passphrase recipient   sample trading
registers register receipts exported exporting checked period report letter written wrote writing
chain chains manifest hash hashes unchanged since last latest first next newest oldest kept keep removed remove
prune pruned policy off-site on-site took taking per seconds elapsed speed remaining nothing something
everything anything please show exit help command commands  settings default required
""".split())

# Words that are French and not English, for the English screens.
FRENCH = set("""
le la les des du une est sont avec sans dans pour sur par aucun aucune chaque été écrit écrite écrites écrits
sauvegarde sauvegardes copie copies fichier fichiers dossier dossiers clé clés vérifié vérifiée vérification
vérifier restauration restaurer exercice magasin caisse base journaux fiscaux constat constats signé signée
disque partage erreur avertissement manquant manquante abîmé intacte relue relu contrôleur dossier mot passe
phrase secrète jours soir soirs espace libre reste restant tickets lignes paiements clôtures instantané
""".split()) - {"tickets", "base", "copies"}

_NAMES_AND_PATHS = [
    re.compile(r"`[^`]*`"),                              # commands and options quoted in a sentence
    re.compile(r"(?<![\w])--?[A-Za-z][\w-]*(=\S*)?"),     # options
    re.compile(r"\S*[/\\]\S*"),                          # paths, remotes, URLs
    re.compile(r"\b[\w-]+(\.[\w-]+)*\.(txt|json|html|zip|db|toml|pub|age|zst|minisig|b3|csv|sqlite|sql|pdf|sh|ps1|md)\b",
               re.I),                                    # file names
    re.compile(r"\b\d{8}T\d{6}Z(-[0-9a-f]+)?\b"),        # run ids
    re.compile(r"\b[0-9a-f]{12,}\b"),                    # hashes, act ids
    re.compile(r"\b(age1|RWQ|RW)[0-9A-Za-z+/=]+"),       # keys
    re.compile(r"\bcoffre(-[\w.-]+)?\b", re.I),          # the command's and the units' names
]


def sentences_of(screen: str, typed_prefix: str = "$ ") -> list[str]:
    """The lines Coffre printed: not the lines the test typed."""
    return [line for line in screen.splitlines() if line.strip() and not line.startswith(typed_prefix)
            and "##" not in line]


def words_outside_names(line: str, names: list[str]) -> list[str]:
    for name in sorted(names, key=len, reverse=True):
        line = line.replace(name, " ")
    for pattern in _NAMES_AND_PATHS:
        line = pattern.sub(" ", line)
    return re.findall(r"[A-Za-zÀ-ÿ']+", line)


def words_of_the_other_language(screen: str, language: str, names: list[str]) -> list[tuple[str, str]]:
    """(word, line) for every word of the other language on a screen meant to be in `language`."""
    foreign = ENGLISH if language == "fr" else FRENCH
    found = []
    for line in sentences_of(screen):
        for word in words_outside_names(line, names):
            w = word.lower().strip("'")
            if w in foreign or (language == "en" and re.search(r"[à-ÿ]", w)):
                found.append((word, line.strip()))
    return found


class Tmux:
    """One tmux server of the test's own (its socket, no user config), a bash in one window of a given size."""

    def __init__(self, env: dict[str, str], width: int = 160, height: int = 50):
        self.tmux = need_tool("tmux")
        self.socket = f"coffre-test-{uuid.uuid4().hex[:8]}"
        self.env = env
        args = [self.tmux, "-u", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                "-x", str(width), "-y", str(height)]
        for name, value in env.items():
            args += ["-e", f"{name}={value}"]
        args += ["env", "PS1=$ ", "bash", "--norc", "--noprofile"]
        subprocess.run(args, check=True)
        self.run_tmux("set-option", "-g", "history-limit", "50000")

    def run_tmux(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], check=True, capture_output=True,
                              text=True).stdout

    def type(self, line: str) -> None:
        self.run_tmux("send-keys", "-t", "t", "-l", line)
        self.run_tmux("send-keys", "-t", "t", "Enter")

    def screen(self, whole: bool = False) -> str:
        extra = ["-S", "-", "-E", "-"] if whole else []
        return self.run_tmux("capture-pane", "-p", "-J", "-t", "t", *extra)

    def command(self, line: str, timeout: float = 300) -> tuple[int, str]:
        """Types a command, waits for it to end; returns its exit code and what the screen showed meanwhile."""
        self.run_tmux("clear-history", "-t", "t")
        self.type("clear")
        mark = uuid.uuid4().hex[:8]
        self.type(f"{line}; echo \"##{mark} $?\"")
        deadline = time.time() + timeout
        still, since = None, time.time()
        while time.time() < deadline:
            shown = self.screen(whole=True)
            found = re.search(rf"^##{mark} (\d+)\s*$", shown, re.M)
            if found:
                return int(found.group(1)), shown
            if shown != still:
                still, since = shown, time.time()
            elif time.time() - since > 60:  # a question nobody answers, or a command stuck: said now, not at timeout
                break
            time.sleep(0.2)
        raise AssertionError(f"`{line}` did not end within {timeout} s; the screen:\n{self.screen(whole=True)}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True)


@contextlib.contextmanager
def tmux_session(env: dict[str, str], **size):
    session = Tmux(env, **size)
    try:
        yield session
    finally:
        session.close()


def write_screen(folder: Path, name: str, screen: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(screen)
