"""A till selling into a server sample database: signed tickets through a stock client kept open, each commit timed."""

from __future__ import annotations

import subprocess
import time

from pipeline.sample import SaleComposer
from pipeline.sample.generate import LINE_COLUMNS, PAYMENT_COLUMNS, TICKET_COLUMNS


def literal(value, dialect: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    text = str(value).replace("'", "''")
    if dialect == "mariadb":
        text = text.replace("\\", "\\\\")  # MariaDB reads backslash escapes in strings
    return f"'{text}'"


class ServerSales:
    """`argv` runs the kind's client on the sample database, reading SQL from its standard input (psql -At, or
    mariadb -N -B --unbuffered). The client stays open: a commit's wait is measured from the statement sent to the
    answer read, as a till's driver would see it."""

    def __init__(self, argv: list[str], env: dict, dialect: str, seed: int = 1):
        self.dialect = dialect
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        self.marks = 0
        registers = [(int(r[0]), r[1]) for r in self.query("SELECT id, code FROM registers ORDER BY id")]
        operators = {int(r[0]): r[1] for r in self.query("SELECT id, code FROM operators ORDER BY id")}
        products = [(int(r[0]), r[1], int(r[2]), int(r[3])) for r in self.query(
            "SELECT id, label, unit_price_cents, vat_rate_bp FROM products ORDER BY id")]
        skus = {int(r[0]): r[1] for r in self.query("SELECT id, sku FROM products")}
        keys = {r[0] for r in self.query("SELECT public_key_b64 FROM till_keys")}
        self.composer = SaleComposer(seed, registers, operators, products, skus, keys, "the server database")
        self.ends = {}
        for register_id, _code in registers:
            rows = self.query(f"SELECT number, signature FROM tickets WHERE register_id = {register_id} "
                              "ORDER BY number DESC LIMIT 1")
            self.ends[register_id] = (int(rows[0][0]), rows[0][1]) if rows else None
        self.latest = self._value("SELECT max(timestamp) FROM tickets")
        self.closed = self._value("SELECT max(period_end) FROM closures WHERE kind = 'daily'")
        self.next_id = {t: int(self._value(f"SELECT coalesce(max(id), 0) FROM {t}")) + 1
                        for t in ("tickets", "ticket_lines", "payments")}
        self.last_number: dict[int, int] = {}

    def query(self, sql: str) -> list[list[str]]:
        mark = self._send(sql.rstrip(";") + ";")
        rows = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the client stopped: {self.proc.stderr.read()}")
            line = line.rstrip("\n")
            if line == mark:
                return rows
            rows.append([None if v in ("NULL", "") else v for v in line.split("\t" if "\t" in line else "|")])

    def _value(self, sql: str):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def _send(self, sql: str) -> str:
        self.marks += 1
        mark = f"coffre-mark-{self.marks}"
        echo = f"\\echo {mark}" if self.dialect == "postgresql" else f"SELECT '{mark}';"
        self.proc.stdin.write(sql + "\n" + echo + "\n")
        self.proc.stdin.flush()
        return mark

    def commit_ticket(self) -> float:
        """Sells one ticket; returns the transaction's wait in seconds."""
        drawn = self.composer.draw()
        register_id = drawn[0]
        rows = self.composer.sign(drawn, self.ends[register_id], self.latest, self.closed)
        ticket_id = self.next_id["tickets"]
        d = self.dialect
        statements = [_insert("tickets", TICKET_COLUMNS, [(ticket_id, *rows["ticket"])], d)]
        lines = []
        for line in rows["lines"]:
            lines.append((self.next_id["ticket_lines"] + len(lines), ticket_id, *line))
        payments = []
        for means, amount in rows["payments"]:
            payments.append((self.next_id["payments"] + len(payments), ticket_id, means, amount))
        if lines:
            statements.append(_insert("ticket_lines", LINE_COLUMNS, lines, d))
        if payments:
            statements.append(_insert("payments", PAYMENT_COLUMNS, payments, d))
        began = time.perf_counter()
        mark = self._send("BEGIN; " + " ".join(statements) + " COMMIT;")
        line = self.proc.stdout.readline().rstrip("\n")
        waited = time.perf_counter() - began
        if line != mark:
            raise RuntimeError(f"the sale was not committed: {line!r} {self.proc.stderr.read()}")
        self.next_id["tickets"] += 1
        self.next_id["ticket_lines"] += len(lines)
        self.next_id["payments"] += len(payments)
        ticket = rows["ticket"]
        self.ends[register_id] = (ticket[1], ticket[-1])
        self.latest = ticket[3]
        self.last_number[register_id] = ticket[1]
        return waited

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _insert(table: str, columns: tuple, rows: list[tuple], dialect: str) -> str:
    values = ", ".join("(" + ", ".join(literal(v, dialect) for v in row) + ")" for row in rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values};"
