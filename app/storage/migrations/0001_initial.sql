-- Backroom's first schema: one table per collection, child tables for order lines and
-- delivery events, money as NUMERIC(12,2), times as timestamptz.
--
-- Every table has an `extra` json column: fields a record carries beyond the columns
-- below (or values a column cannot hold exactly) live there, so a record read back is
-- the record that was written. `json`, not `jsonb`, keeps the order of keys.
-- Ids are compared byte-wise (COLLATE "C"), as the JSON store sorts them.

CREATE TABLE users (
    id              text COLLATE "C" PRIMARY KEY,
    username        text NOT NULL,
    email           text,
    role            text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    extra           json
);
CREATE UNIQUE INDEX users_username_key ON users (lower(NULLIF(username, '')));
CREATE INDEX users_role_active_idx ON users (role, active);

CREATE TABLE sessions (
    id              text COLLATE "C" PRIMARY KEY,
    user_id         text COLLATE "C" NOT NULL REFERENCES users (id),
    refresh_id      text,
    revoked         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    extra           json
);
CREATE INDEX sessions_user_idx ON sessions (user_id, id);

-- failed sign-ins per (username, address) in the last minute, as Unix times
CREATE TABLE login_attempts (
    id              text COLLATE "C" PRIMARY KEY,
    failures        double precision[],
    updated_at      timestamptz,
    extra           json
);

CREATE TABLE products (
    id              text COLLATE "C" PRIMARY KEY,
    sku             text NOT NULL,
    title           text NOT NULL,
    kind            text NOT NULL DEFAULT 'general',
    author          text,
    isbn            text,
    barcode         text,
    -- a UPC-A (12 digits) and its EAN-13 form (a leading 0) are one code
    barcode_key     text GENERATED ALWAYS AS (
                        CASE WHEN barcode ~ '^[0-9]{12}$' THEN '0' || barcode
                             ELSE NULLIF(barcode, '') END) STORED,
    description     text,
    category        text,
    price           numeric(12, 2) NOT NULL,
    cost            numeric(12, 2),
    stock           bigint NOT NULL DEFAULT 0 CONSTRAINT products_stock_not_negative CHECK (stock >= 0),
    low_stock_threshold bigint,
    status          text NOT NULL DEFAULT 'active',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    extra           json
);
CREATE UNIQUE INDEX products_sku_key ON products (lower(NULLIF(sku, '')));
CREATE UNIQUE INDEX products_barcode_key ON products (barcode_key);
CREATE UNIQUE INDEX products_isbn_key ON products (NULLIF(isbn, ''));
CREATE INDEX products_status_kind_idx ON products (status, kind, id);
CREATE INDEX products_category_idx ON products (category);

-- the ledger: every change of stock, never updated
CREATE TABLE stock_movements (
    id              text COLLATE "C" PRIMARY KEY,
    product_id      text COLLATE "C" NOT NULL REFERENCES products (id),
    delta           bigint NOT NULL,
    stock_after     bigint,
    reason          text NOT NULL,
    ref             text,
    note            text,
    user_id         text,
    created_at      timestamptz NOT NULL,
    extra           json
);
CREATE INDEX stock_movements_product_idx ON stock_movements (product_id, id);
CREATE INDEX stock_movements_reason_idx ON stock_movements (reason, id);
CREATE INDEX stock_movements_created_idx ON stock_movements (created_at);

CREATE TABLE orders (
    id              text COLLATE "C" PRIMARY KEY,
    number          integer NOT NULL CONSTRAINT orders_number_key UNIQUE,
    status          text NOT NULL,
    payment_status  text NOT NULL,
    subtotal        numeric(12, 2),
    total           numeric(12, 2),
    currency        text,
    customer        json,
    customer_id     text,
    payment_method  text,
    payment_amount  numeric(12, 2),
    payment_reference text,
    paid_at         timestamptz,
    notes           text,
    cancel_reason   text,
    created_by      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    cancelled_at    timestamptz,
    extra           json
);
CREATE INDEX orders_status_idx ON orders (status, id);
CREATE INDEX orders_payment_status_idx ON orders (payment_status, id);
CREATE INDEX orders_customer_email_idx ON orders (lower(COALESCE(customer ->> 'email', '')));
CREATE INDEX orders_created_idx ON orders (created_at);

-- each order's snapshot of what was sold, in the order of the request
CREATE TABLE order_lines (
    order_id        text COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    product_id      text COLLATE "C" REFERENCES products (id),
    sku             text,
    title           text,
    quantity        bigint,
    unit_price      numeric(12, 2),
    line_total      numeric(12, 2),
    extra           json,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    order_id        text COLLATE "C" NOT NULL REFERENCES orders (id),
    status          text NOT NULL,
    address         json,
    carrier         text,
    tracking_number text,
    estimated_date  date,
    created_by      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    extra           json
);
CREATE INDEX deliveries_order_idx ON deliveries (order_id, id);
CREATE INDEX deliveries_status_idx ON deliveries (status, id);

-- a delivery's history, oldest first
CREATE TABLE delivery_events (
    delivery_id     text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    status          text,
    at              timestamptz,
    note            text,
    user_id         text,
    extra           json,
    PRIMARY KEY (delivery_id, position)
);

-- the first successful response to a create sent with an Idempotency-Key, kept 24 hours
CREATE TABLE idempotency_keys (
    id              text COLLATE "C" PRIMARY KEY,
    user_id         text,
    endpoint        text,
    fingerprint     text,
    status          integer,
    response        json,
    headers         json,
    created_at      timestamptz NOT NULL,
    extra           json
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- gapless counters that roll back with their transaction (order numbers start at 1001)
CREATE TABLE counters (
    id              text COLLATE "C" PRIMARY KEY,
    value           bigint NOT NULL,
    extra           json
);
