-- Reference POS schema of the Coffre sample shop: a French certified till, NF525 style.
-- Amounts are integer euro cents, VAT rates integer basis points (550 = 5.5 %),
-- times ISO-8601 UTC to the second ('2025-01-01T09:00:00Z'), dates 'YYYY-MM-DD'.
-- Signatures are Ed25519, base64url without padding; '' marks the first record of a chain.
-- fixtures/README.md documents every field and the exact signed payloads.

CREATE TABLE registers (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,          -- 'CAISSE-01', printed on receipts, signed
    label       TEXT    NOT NULL,
    opened_on   TEXT    NOT NULL                  -- first business day of the register
);

CREATE TABLE operators (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,          -- 'OP01', signed in JET and duplicates
    name        TEXT    NOT NULL
);

CREATE TABLE till_keys (
    id              INTEGER PRIMARY KEY,
    key_id          TEXT    NOT NULL UNIQUE,      -- first 16 hex digits of SHA-256(raw public key)
    algorithm       TEXT    NOT NULL CHECK (algorithm = 'ed25519'),
    public_key_b64  TEXT    NOT NULL,             -- raw 32-byte key, standard base64 with padding
    valid_from      TEXT    NOT NULL              -- UTC time from which it signs
);

CREATE TABLE products (
    id                INTEGER PRIMARY KEY,
    sku               TEXT    NOT NULL UNIQUE,
    label             TEXT    NOT NULL,
    unit_price_cents  INTEGER NOT NULL CHECK (unit_price_cents > 0),   -- VAT included
    vat_rate_bp       INTEGER NOT NULL CHECK (vat_rate_bp IN (550, 1000, 2000)),
    category          TEXT    NOT NULL
);

CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY,
    register_id         INTEGER NOT NULL REFERENCES registers(id),
    number              INTEGER NOT NULL CHECK (number >= 1),  -- per register, 1, 2, 3… no gap
    type                TEXT    NOT NULL CHECK (type IN ('sale', 'refund', 'cancellation', 'training')),
    timestamp           TEXT    NOT NULL,
    operator_id         INTEGER NOT NULL REFERENCES operators(id),
    original_ticket_id  INTEGER REFERENCES tickets(id),       -- the sale a refund or cancellation undoes
    ht_550              INTEGER NOT NULL,
    tva_550             INTEGER NOT NULL,
    ht_1000             INTEGER NOT NULL,
    tva_1000            INTEGER NOT NULL,
    ht_2000             INTEGER NOT NULL,
    tva_2000            INTEGER NOT NULL,
    total_ht            INTEGER NOT NULL,
    total_tva           INTEGER NOT NULL,
    total_ttc           INTEGER NOT NULL,
    previous_signature  TEXT    NOT NULL,
    signature           TEXT    NOT NULL
);
CREATE UNIQUE INDEX tickets_register_number ON tickets (register_id, number);
CREATE INDEX tickets_timestamp ON tickets (timestamp);
CREATE INDEX tickets_original ON tickets (original_ticket_id) WHERE original_ticket_id IS NOT NULL;

CREATE TABLE ticket_lines (
    id                INTEGER PRIMARY KEY,
    ticket_id         INTEGER NOT NULL REFERENCES tickets(id),
    line_no           INTEGER NOT NULL CHECK (line_no >= 1),
    product_id        INTEGER NOT NULL REFERENCES products(id),
    label             TEXT    NOT NULL,           -- product label as printed that day
    quantity          INTEGER NOT NULL,           -- negative on refunds and cancellations
    unit_price_cents  INTEGER NOT NULL,           -- VAT included, always positive
    discount_cents    INTEGER NOT NULL,           -- VAT included, same sign as quantity
    vat_rate_bp       INTEGER NOT NULL CHECK (vat_rate_bp IN (550, 1000, 2000)),
    line_total_ttc    INTEGER NOT NULL            -- quantity * unit_price_cents - discount_cents
);
CREATE UNIQUE INDEX ticket_lines_ticket ON ticket_lines (ticket_id, line_no);

CREATE TABLE payments (
    id            INTEGER PRIMARY KEY,
    ticket_id     INTEGER NOT NULL REFERENCES tickets(id),
    means         TEXT    NOT NULL CHECK (means IN ('cash', 'card', 'cheque', 'voucher')),
    amount_cents  INTEGER NOT NULL                -- negative when money goes back to the customer
);
CREATE INDEX payments_ticket ON payments (ticket_id);

CREATE TABLE closures (
    id                         INTEGER PRIMARY KEY,
    register_id                INTEGER NOT NULL REFERENCES registers(id),
    kind                       TEXT    NOT NULL CHECK (kind IN ('daily', 'monthly', 'yearly')),
    number                     INTEGER NOT NULL CHECK (number >= 1),  -- per register and kind
    period_start               TEXT    NOT NULL,  -- first day covered, inclusive
    period_end                 TEXT    NOT NULL,  -- last day covered, inclusive
    timestamp                  TEXT    NOT NULL,
    ticket_count               INTEGER NOT NULL,  -- sales, refunds and cancellations; not training
    ht_550                     INTEGER NOT NULL,
    tva_550                    INTEGER NOT NULL,
    ht_1000                    INTEGER NOT NULL,
    tva_1000                   INTEGER NOT NULL,
    ht_2000                    INTEGER NOT NULL,
    tva_2000                   INTEGER NOT NULL,
    total_ht                   INTEGER NOT NULL,
    total_tva                  INTEGER NOT NULL,
    total_ttc                  INTEGER NOT NULL,
    grand_total_perpetual_ht   INTEGER NOT NULL,  -- running total since the register opened
    grand_total_perpetual_ttc  INTEGER NOT NULL,
    payments_by_means          TEXT    NOT NULL,  -- 'card:123|cash:456': the period's payments per means, by name
    previous_signature         TEXT    NOT NULL,
    signature                  TEXT    NOT NULL
);
CREATE UNIQUE INDEX closures_register_kind_number ON closures (register_id, kind, number);
CREATE INDEX closures_period ON closures (kind, period_start);

CREATE TABLE jet (
    id                  INTEGER PRIMARY KEY,
    seq                 INTEGER NOT NULL UNIQUE,  -- shop-wide, 1, 2, 3… no gap
    register_id         INTEGER REFERENCES registers(id),   -- NULL: shop-wide event
    code                INTEGER NOT NULL,
    label               TEXT    NOT NULL,
    detail              TEXT    NOT NULL,
    timestamp           TEXT    NOT NULL,
    operator_id         INTEGER REFERENCES operators(id),   -- NULL: no one logged in
    previous_signature  TEXT    NOT NULL,
    signature           TEXT    NOT NULL
);
CREATE INDEX jet_timestamp ON jet (timestamp);

CREATE TABLE duplicates (
    id                  INTEGER PRIMARY KEY,
    register_id         INTEGER NOT NULL REFERENCES registers(id),
    number              INTEGER NOT NULL CHECK (number >= 1),  -- per register, no gap
    ticket_id           INTEGER NOT NULL REFERENCES tickets(id),
    reprint_no          INTEGER NOT NULL CHECK (reprint_no >= 1),  -- nth reprint of that ticket
    timestamp           TEXT    NOT NULL,
    operator_id         INTEGER NOT NULL REFERENCES operators(id),
    previous_signature  TEXT    NOT NULL,
    signature           TEXT    NOT NULL
);
CREATE UNIQUE INDEX duplicates_register_number ON duplicates (register_id, number);
CREATE INDEX duplicates_ticket ON duplicates (ticket_id);
